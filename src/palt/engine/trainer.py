"""The training loop: explicit, on top of Lightning Fabric (devices, precision, processes).

One run (``fit``)::

    validate the config; load the benchmark; build datasets, backbone + method head
    method.setup(TrainContext)                       # training-label statistics
    if method.prior_stage(): train that method, predict the training set, consume_stage(probs)
    for epoch: on_epoch_start → steps (loss → backward → clip → step → schedule → EMA)
               → on_epoch_end → validate → keep best (validation mAP) → checkpoint
    load the best weights → predict test → predictions/, summary.json, per_class.csv

Every process sees the same (seed, epoch)-determined sample order and takes every
``world_size``-th sample of it, so a 2-process run with batch B per process takes the same
global batches as a 1-process run with batch 2B. Checkpoints (every ``checkpoint_every`` steps
and at every epoch end) hold weights, optimiser, scheduler, RNG, method buffers and progress;
``resume`` continues mid-epoch at the next batch and ends with the same result as an
uninterrupted run. Mid-epoch, ``on_epoch_start`` is *not* called again on resume (its effect
is in the restored method state).
"""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from lightning.fabric import Fabric
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from palt import __version__
from palt.data.benchmark import Benchmark, BenchmarkError
from palt.data.datasets import (
    build_datasets,
    collate,
    resolve_input_kind,
    without_augmentation,
)
from palt.engine.checkpoint import Checkpoint, flat_tensors, restore_rng, split_tensors
from palt.engine.config import Config, ConfigError, load_config
from palt.engine.evaluation import accumulate, per_class_rows, predict, score
from palt.engine.optim import EMA, build_optimizer, build_scheduler
from palt.engine.run_dir import RunDir
from palt.methods import Method, TrainContext, create
from palt.models import check_backbone, create_backbone


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message names the epoch, the step and the last
    good checkpoint."""


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]


class Network(nn.Module):
    """Backbone features → method head."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> Any:
        return self.head(self.backbone(x))


class EpochSampler(Sampler[int]):
    """This process's share of an epoch order: pad to a multiple of ``world`` by repeating the
    first indices, take every ``world``-th from ``rank``, skip the first ``skip`` (resume)."""

    def __init__(self, order: Callable[[int], np.ndarray], rank: int = 0, world: int = 1) -> None:
        self.order, self.rank, self.world = order, rank, world
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def shard(self) -> np.ndarray:
        order = np.asarray(self.order(self.epoch), dtype=np.int64)
        pad = (-len(order)) % self.world
        if pad:
            order = np.concatenate([order, np.resize(order, pad)])
        return order[self.rank :: self.world]

    def __len__(self) -> int:
        return max(0, len(self.shard()) - self.skip)

    def __iter__(self) -> Iterator[int]:
        return iter(self.shard()[self.skip :].tolist())


# ---------------------------------------------------------------------- public API
def fit(
    config: Config | dict[str, Any] | str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    resume: bool = False,
) -> RunResult:
    """Train and evaluate one run; deterministic given (config, seed)."""
    cfg = config if isinstance(config, Config) else load_config(config, overrides)
    trainer = Trainer(cfg)
    return trainer.run(resume=resume)


def make_fabric(cfg: Config) -> Fabric:
    t = cfg.trainer
    precision = "32-true" if t.precision == "32" else t.precision
    return Fabric(
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=precision,  # type: ignore[arg-type]
    )


def build_method(cfg: Config) -> Method:
    try:
        return create(cfg.method.name, **cfg.method.params)
    except ValueError as err:
        raise ConfigError(f"method: {err}") from None


def build_network(
    cfg: Config, method: Method, input_shape: tuple[int, ...], num_classes: int, kind: str
) -> Network:
    name = cfg.model.backbone
    if name == "auto":
        name = "cnn" if kind in ("array", "image") else "identity"
    try:
        backbone, dim = create_backbone(name, input_shape=input_shape, **cfg.model.params)
    except ValueError as err:
        raise ConfigError(f"model: {err}") from None
    if cfg.model.freeze_backbone:
        for p in backbone.parameters():
            p.requires_grad_(False)
    return Network(backbone, method.build_head(dim, num_classes))


def load_module_state(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load a state dict; top-level method buffers created after ``setup`` (e.g. by
    ``consume_stage``) and missing from a fresh module are registered first."""
    own = module.state_dict()
    for key, value in state.items():
        if key not in own and "." not in key:
            module.register_buffer(key, value.clone())
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{what}: checkpoint does not match the model (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})"
        )


# ---------------------------------------------------------------------- the trainer
class Trainer:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.method = build_method(cfg)  # unknown names/params fail here, before any work
        if cfg.model.backbone != "auto":
            try:
                check_backbone(cfg.model.backbone, cfg.model.params)
            except ValueError as err:
                raise ConfigError(f"model: {err}") from None
        self.benchmark = Benchmark.load(cfg.data.benchmark) if cfg.data.benchmark else None
        if self.benchmark is None:
            raise ConfigError("data.benchmark: required (path of a benchmark directory)")
        self.kind = resolve_input_kind(cfg.data.input, self.benchmark, cfg.data.features)
        needed = ["train", "test"] + (["val"] if cfg.trainer.select_on == "val" else [])
        missing = [s for s in needed if s not in self.benchmark.splits]
        if missing:
            raise BenchmarkError(
                f"{self.benchmark.root}: split(s) {missing} missing (trainer.select_on="
                f"{cfg.trainer.select_on!r} needs {needed})"
            )
        self.splits = [s for s in ("train", "val", "test") if s in self.benchmark.splits]
        self.run_dir = RunDir(cfg.run_dir)
        self.resolved = cfg.to_dict()
        self.resolved["method"]["params"] = self.method.hyperparameters()

    # ------------------------------------------------------------------ set-up
    def run(self, *, resume: bool = False) -> RunResult:
        cfg = self.cfg
        self._check_run_dir(resume)
        self.fabric = fabric = make_fabric(cfg)
        fabric.launch()
        self.rank0 = fabric.is_global_zero
        Fabric.seed_everything(cfg.trainer.seed, verbose=False)
        if cfg.trainer.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        options = dict(vars(cfg.data))
        self.datasets, _ = build_datasets(
            self.benchmark, self.kind, self.splits, options, cfg.trainer.seed
        )
        train_labels = self.benchmark.splits["train"].labels
        self.train_labels = train_labels
        input_shape = self.datasets["train"].input_shape  # type: ignore[attr-defined]
        self.input_shape = tuple(input_shape)
        self.groups = self.benchmark.groups()
        if self.rank0:
            self.run_dir.root.mkdir(parents=True, exist_ok=True)
            self.run_dir.write_config(yaml.safe_dump(self.resolved, sort_keys=False))
            if not resume and self.run_dir.checkpoints.folder.exists():
                # output.overwrite: a later --resume must not pick up the old run's checkpoints
                shutil.rmtree(self.run_dir.checkpoints.folder)

        self.train_sampler = EpochSampler(
            self._train_order(), fabric.global_rank, fabric.world_size
        )
        self.train_loader = self._loader(
            self.datasets["train"], self.train_sampler, cfg.data.batch_size
        )
        steps_per_epoch = math.ceil(len(self.train_sampler) / cfg.data.batch_size)
        if steps_per_epoch == 0:
            raise BenchmarkError(f"{self.benchmark.root}: the training split is empty")
        self.steps_per_epoch = steps_per_epoch

        method = self.method
        network = build_network(cfg, method, self.input_shape, train_labels.n_classes, self.kind)
        context = TrainContext(
            train_labels=train_labels,
            epochs=cfg.trainer.epochs,
            steps_per_epoch=steps_per_epoch,
            full_train_labels=self.benchmark.splits["train"].full,
            extra={"groups": self.groups, "world_size": fabric.world_size},
        )
        method.setup(context)
        method.to(fabric.device)
        checkpoint = self._checkpoint_to_resume(resume)
        request = method.prior_stage()
        if request is not None and checkpoint is None:
            method.consume_stage(self._prior_stage(request, context))

        raw_opt = build_optimizer(
            cfg.optim, network.backbone, method.param_groups(network.head, cfg.optim.lr)
        )
        scheduler = build_scheduler(cfg.schedule, raw_opt, steps_per_epoch, cfg.trainer.epochs)
        net, opt = fabric.setup(network, raw_opt)
        ema = EMA(network, cfg.optim.ema) if cfg.optim.ema else None
        self.progress: dict[str, Any] = {
            "epoch": 0,
            "step": 0,
            "global_step": 0,
            "loss_sum": 0.0,
            "loss_count": 0,
            "best_score": None,
            "best_epoch": None,
            "history": [],
        }
        if checkpoint is not None:
            load_module_state(network, split_tensors(checkpoint.tensors, "network"), "network")
            load_module_state(method, split_tensors(checkpoint.tensors, "method"), "method")
            if ema is not None:
                load_module_state(ema.module, split_tensors(checkpoint.tensors, "ema"), "ema")
            raw_opt.load_state_dict(checkpoint.optim["optimizer"])
            scheduler.load_state_dict(checkpoint.optim["scheduler"])
            self.progress.update(checkpoint.state["progress"])
            method.to(fabric.device)
            restore_rng(checkpoint)
        self.net, self.network, self.opt, self.scheduler, self.ema = (
            net,
            network,
            opt,
            scheduler,
            ema,
        )
        self._fit_loop()
        summary = self._final_test()
        return RunResult(self.run_dir.root, summary)

    def _check_run_dir(self, resume: bool) -> None:
        rd = self.run_dir
        if resume:
            if rd.checkpoints.latest() is None:
                raise FileNotFoundError(f"{rd.root}: nothing to resume (no checkpoints/last.json)")
            saved = yaml.safe_load(rd.path("config.yaml").read_text(encoding="utf-8"))
            diff = _differences(
                saved, self.resolved, ignore={"trainer.progress", "output.overwrite"}
            )
            if diff:
                raise ConfigError(
                    f"--resume: the config differs from {rd.path('config.yaml')} at {', '.join(diff)}"
                )
        elif rd.exists() and not self.cfg.output.overwrite:
            raise FileExistsError(
                f"{rd.root}: run directory exists; pass --resume to continue it or "
                "output.overwrite=true to start again"
            )

    def _checkpoint_to_resume(self, resume: bool) -> Checkpoint | None:
        if not resume:
            return None
        path = self.run_dir.checkpoints.latest()
        return self.run_dir.checkpoints.load(path) if path is not None else None

    def _train_order(self) -> Callable[[int], np.ndarray]:
        cfg = self.cfg
        seed = cfg.trainer.seed
        choice = cfg.data.sampler
        if choice == "auto":
            choice = (self.method.default_sampler or "shuffle").replace("-", "_")
        n = self.benchmark.splits["train"].labels.n_samples
        if choice == "class_aware":
            from palt.data.samplers import ClassAwareSampler

            options = dict(cfg.data.sampler_options)
            unknown = sorted(set(options) - {"num_samples_cls", "reduce"})
            if unknown:
                raise ConfigError(
                    f"data.sampler_options: unknown key(s) {unknown}; allowed: num_samples_cls, reduce"
                )
            try:
                sampler = ClassAwareSampler(
                    self.benchmark.splits["train"].labels, seed=seed, **options
                )
            except ValueError as err:
                raise ConfigError(f"data.sampler_options: {err}") from None

            def class_aware(epoch: int) -> np.ndarray:
                sampler.set_epoch(epoch)
                return sampler.draw()

            return class_aware
        if choice != "shuffle":
            raise ConfigError(
                f"data.sampler: {choice!r} is not allowed; allowed: shuffle, class_aware"
            )
        return lambda epoch: np.random.default_rng([seed, epoch]).permutation(n)

    def _loader(self, dataset: Dataset, sampler: Sampler[int], batch_size: int) -> DataLoader:
        workers = self.cfg.data.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=workers,
            # an own generator: creating the iterator must not draw from the global RNG,
            # or a mid-epoch resume would see different dropout masks
            generator=torch.Generator().manual_seed(self.cfg.trainer.seed),
        )

    def _eval_loader(self, split: str) -> DataLoader:
        dataset = without_augmentation(self.datasets[split])
        n = len(dataset)  # type: ignore[arg-type]
        sampler = EpochSampler(
            lambda _: np.arange(n), self.fabric.global_rank, self.fabric.world_size
        )
        return self._loader(dataset, sampler, self.cfg.data.eval_batch_size)

    # ------------------------------------------------------------------ loops
    def _show_progress(self) -> bool:
        mode = self.cfg.trainer.progress
        return self.rank0 and (mode == "on" or (mode == "auto" and sys.stderr.isatty()))

    def _train_epoch(
        self,
        net: nn.Module,
        network: Network,
        method: Method,
        opt: Any,
        scheduler: Any,
        ema: EMA | None,
        epoch: int,
        start: int,
        after_step: Callable[[int, int, float], None] | None,
        label: str,
    ) -> None:
        fabric, cfg = self.fabric, self.cfg
        net.train()
        method.train()
        if cfg.model.freeze_backbone:
            network.backbone.eval()
        dataset = self.datasets["train"]
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        self.train_sampler.set_epoch(epoch, start * cfg.data.batch_size)
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=start,
            desc=f"{label} epoch {epoch + 1}/{cfg.trainer.epochs}",
            disable=not self._show_progress(),
            leave=False,
            dynamic_ncols=True,
        )
        for step, (x, y, idx) in enumerate(self.train_loader, start=start):
            x, y, idx = fabric.to_device((x, y, idx))
            outputs = net(x)
            loss = method.loss(outputs, y, idx, epoch)
            self._check_finite(loss, epoch, step)
            fabric.backward(loss)
            if cfg.optim.grad_clip:
                fabric.clip_gradients(net, opt, max_norm=cfg.optim.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            scheduler.step()
            if ema is not None:
                ema.update(network)
            value = float(loss.detach())
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            if after_step is not None:
                after_step(epoch, step + 1, value)
        bar.close()

    def _check_finite(self, loss: torch.Tensor, epoch: int, step: int) -> None:
        bad = torch.tensor(0.0 if bool(torch.isfinite(loss.detach())) else 1.0, device=loss.device)
        if self.fabric.world_size > 1:
            bad = self.fabric.all_reduce(bad, reduce_op="sum")
        if float(bad) > 0:
            last = self.run_dir.checkpoints.latest()
            kept = (
                f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
            )
            raise TrainingDiverged(
                f"loss is {float(loss.detach())} at epoch {epoch + 1} (0-based {epoch}), step "
                f"{step + 1} of {self.steps_per_epoch}; training stopped and {kept}"
            )

    def _fit_loop(self) -> None:
        cfg, p = self.cfg, self.progress
        every = cfg.trainer.checkpoint_every

        def after_step(epoch: int, done: int, loss: float) -> None:
            p["loss_sum"] += loss
            p["loss_count"] += 1
            p["global_step"] += 1
            p["step"] = done
            if every and p["global_step"] % every == 0 and done < self.steps_per_epoch:
                self._save_checkpoint()

        while p["epoch"] < cfg.trainer.epochs:
            epoch = p["epoch"]
            if p["step"] == 0:
                self.method.on_epoch_start(epoch)
            self._train_epoch(
                self.net,
                self.network,
                self.method,
                self.opt,
                self.scheduler,
                self.ema,
                epoch,
                p["step"],
                after_step,
                "train",
            )
            self.method.on_epoch_end(epoch)
            self._end_epoch(epoch)
            p.update(epoch=epoch + 1, step=0, loss_sum=0.0, loss_count=0)
            self._save_checkpoint()

    def _eval_network(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.network

    def _evaluate(self, split: str) -> Any:
        labels = self.benchmark.splits[split].labels
        indices, logits = predict(
            self.fabric, self._eval_network(), self.method, self._eval_loader(split)
        )
        return score(indices, logits, labels, self.groups, self.cfg.trainer.threshold)

    def _end_epoch(self, epoch: int) -> None:
        cfg, p, fabric = self.cfg, self.progress, self.fabric
        loss = torch.tensor([p["loss_sum"], float(p["loss_count"])], dtype=torch.float64)
        if fabric.world_size > 1:
            loss = fabric.all_reduce(fabric.to_device(loss), reduce_op="sum").cpu()
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": self.opt.param_groups[0]["lr"],
            "train_loss": float(loss[0] / max(loss[1], 1.0)),
        }
        select = cfg.trainer.select_on
        score_now = None
        for split in ("val", "test") if select == "test" else ("val",):
            if split not in self.benchmark.splits:
                continue
            result, _, _ = self._evaluate(split)
            summary = result.summary()
            row.update({f"{split}_{k}": v for k, v in summary.items() if _is_number(v)})
            if split == select:
                score_now = float(summary["mAP"])
        row.update({f"diag_{k}": float(v) for k, v in self.method.diagnostics().items()})
        p["history"].append(row)
        improved = select == "last" or (
            score_now is not None
            and not math.isnan(score_now)
            and (p["best_score"] is None or score_now > p["best_score"])
        )
        if improved or p["best_epoch"] is None:
            p["best_score"], p["best_epoch"] = score_now, epoch + 1
            if self.rank0:
                self.run_dir.guarded(
                    self.run_dir.checkpoints.best_path,
                    lambda: self.run_dir.checkpoints.save_best(self._weights(best=True)),
                )
        if self.rank0:
            self.run_dir.write_metrics(p["history"])
            if cfg.trainer.progress != "off":
                shown = f" {select}_mAP {score_now:.4f}" if score_now is not None else ""
                fabric.print(
                    f"epoch {epoch + 1}/{cfg.trainer.epochs} loss {row['train_loss']:.4f}{shown}",
                    file=sys.stderr,
                )

    def _weights(self, best: bool = False) -> dict[str, torch.Tensor]:
        parts = {"method": self.method.state_dict()}
        if best:
            parts["network"] = self._eval_network().state_dict()
        else:
            parts["network"] = self.network.state_dict()
            if self.ema is not None:
                parts["ema"] = self.ema.module.state_dict()
        return flat_tensors(**parts)

    def _save_checkpoint(self) -> None:
        if not self.rank0:
            return
        p = self.progress
        tag = f"step-{p['global_step']:08d}"
        store = self.run_dir.checkpoints
        optim = {"optimizer": self.opt.state_dict(), "scheduler": self.scheduler.state_dict()}
        state = {"progress": p, "palt_version": __version__}
        self.run_dir.guarded(
            store.folder / tag, lambda: store.save(tag, self._weights(), optim, state)
        )

    # ------------------------------------------------------------------ prior stage
    def _prior_stage(self, request: Any, context: TrainContext) -> torch.Tensor:
        """Train ``request.method`` from scratch; eval-mode training-set probabilities (N×C)."""
        cfg, fabric = self.cfg, self.fabric
        try:
            stage_method = create(request.method, **request.params)
        except ValueError as err:
            raise ConfigError(f"method {cfg.method.name!r} prior stage: {err}") from None
        if stage_method.prior_stage() is not None:
            raise ConfigError(
                f"method {request.method!r}: a prior stage cannot request another one"
            )
        epochs = request.epochs or cfg.trainer.epochs
        stage_ctx = TrainContext(
            train_labels=context.train_labels,
            epochs=epochs,
            steps_per_epoch=context.steps_per_epoch,
            full_train_labels=context.full_train_labels,
            extra=dict(context.extra),
        )
        stage_method.setup(stage_ctx)
        stage_method.to(fabric.device)
        n_classes = context.train_labels.n_classes
        network = build_network(cfg, stage_method, self.input_shape, n_classes, self.kind)
        raw_opt = build_optimizer(
            cfg.optim, network.backbone, stage_method.param_groups(network.head, cfg.optim.lr)
        )
        scheduler = build_scheduler(cfg.schedule, raw_opt, self.steps_per_epoch, epochs)
        net, opt = fabric.setup(network, raw_opt)
        for epoch in range(epochs):
            stage_method.on_epoch_start(epoch)
            self._train_epoch(
                net, network, stage_method, opt, scheduler, None, epoch, 0, None, "prior"
            )
            stage_method.on_epoch_end(epoch)
        indices, logits = predict(fabric, network, stage_method, self._eval_loader("train"))
        uniq, rows, _ = accumulate(indices, logits, context.train_labels).collect()
        if len(uniq) != context.train_labels.n_samples:
            raise RuntimeError("prior stage: not every training sample was predicted")
        return torch.sigmoid(torch.from_numpy(np.asarray(rows))).to(fabric.device)

    # ------------------------------------------------------------------ final evaluation
    def _final_test(self) -> dict[str, Any]:
        cfg, p = self.cfg, self.progress
        best = self.run_dir.checkpoints.load_best() if self.rank0 else None
        best = self.fabric.broadcast(best, src=0)
        load_module_state(self._eval_network(), split_tensors(best, "network"), "network")
        load_module_state(self.method, split_tensors(best, "method"), "method")
        self.method.to(self.fabric.device)
        self._eval_network().to(self.fabric.device)
        result, indices, logits = self._evaluate("test")
        labels = {
            "val": "best validation mAP",
            "test": "best-on-test: selected on the test split (optimistic, reproduces a paper protocol)",
            "last": "last epoch",
        }
        summary = {
            "benchmark": self.benchmark.name,
            "method": self.method.name,
            "method_preset": getattr(self.method, "_preset", None),
            "seed": cfg.trainer.seed,
            "epochs": cfg.trainer.epochs,
            "world_size": self.fabric.world_size,
            "selection": {
                "on": cfg.trainer.select_on,
                "epoch": p["best_epoch"],
                "score": p["best_score"],
                "label": labels[cfg.trainer.select_on],
            },
            "group_rule": self.benchmark.group_rule.to_dict(),
            "test": result.summary(),
            "palt_version": __version__,
        }
        summary = _json_safe(summary)
        if self.rank0:
            rd = self.run_dir
            rd.write_predictions("test", indices, logits)
            rd.write_per_class(
                per_class_rows(
                    result,
                    self.benchmark.classes,
                    self.train_labels,
                    self.benchmark.splits["test"].labels,
                )
            )
            rd.write_summary(summary)
        return summary


def _json_safe(obj: Any) -> Any:
    """NaN (an undefined metric, e.g. the mAP of an empty group) becomes ``None`` (JSON null)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _differences(a: Any, b: Any, ignore: set[str], prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(k), b.get(k), ignore, f"{prefix}{k}.")
        return out
    key = prefix.rstrip(".")
    if key in ignore:
        return []
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        a, b = list(a), list(b)
    return [] if a == b else [key]
