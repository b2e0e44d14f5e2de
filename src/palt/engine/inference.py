"""Using a finished run: ``evaluate_run`` (a split, from the best checkpoint) and
``predict_inputs`` (new inputs)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from palt.data.datasets import FeatureDataset, build_datasets
from palt.engine.checkpoint import split_tensors
from palt.engine.config import load_config
from palt.engine.evaluation import per_class_rows, predict
from palt.engine.run_dir import RunDir
from palt.engine.trainer import (
    EpochSampler,
    Trainer,
    _json_safe,
    build_network,
    load_module_state,
    make_fabric,
)
from palt.methods import TrainContext


class LoadedRun:
    """A run's config, benchmark, method and best network, ready to predict (one process)."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        root = Path(run_dir)
        rd = RunDir(root)
        if not rd.exists():
            raise FileNotFoundError(f"{root}: not a run directory (no config.yaml)")
        raw = yaml.safe_load(rd.path("config.yaml").read_text(encoding="utf-8"))
        raw.setdefault("trainer", {}).update(devices=1, num_nodes=1, strategy="auto")
        raw.setdefault("output", {}).update(dir=str(root.parent), name=root.name)
        self.cfg = cfg = load_config(raw)
        self.trainer = t = Trainer(cfg)
        self.run_dir = rd
        t.fabric = make_fabric(cfg)
        t.rank0 = True
        t.datasets, _ = build_datasets(
            t.benchmark, t.kind, t.splits, dict(vars(cfg.data)), cfg.trainer.seed
        )
        t.groups = t.benchmark.groups()
        train = t.train_labels = t.benchmark.splits["train"].labels
        shape = tuple(t.datasets["train"].input_shape)  # type: ignore[attr-defined]
        t.method.setup(
            TrainContext(
                train_labels=train,
                epochs=cfg.trainer.epochs,
                steps_per_epoch=1,
                full_train_labels=t.benchmark.splits["train"].full,
                extra={"groups": t.groups, "world_size": 1},
            )
        )
        t.network = build_network(cfg, t.method, shape, train.n_classes, t.kind)
        t.ema = None
        best = rd.checkpoints.load_best()
        load_module_state(t.network, split_tensors(best, "network"), "network")
        load_module_state(t.method, split_tensors(best, "method"), "method")
        t.network.to(t.fabric.device)
        t.method.to(t.fabric.device)


def evaluate_run(run_dir: str | os.PathLike[str], split: str = "test") -> dict[str, Any]:
    """Score the best checkpoint on ``split``; write predictions and ``eval-<split>`` files."""
    run = LoadedRun(run_dir)
    t = run.trainer
    if split not in t.benchmark.splits:
        raise ValueError(
            f"--split: {split!r} not in the benchmark; present: {sorted(t.benchmark.splits)}"
        )
    if split not in t.datasets:
        t.datasets.update(
            build_datasets(t.benchmark, t.kind, [split], dict(vars(run.cfg.data)), 0)[0]
        )
    result, indices, logits = t._evaluate(split)
    summary = _json_safe({"split": split, "run": str(run.run_dir.root), **result.summary()})
    run.run_dir.write_predictions(split, indices, logits)
    run.run_dir.write_json(f"eval-{split}.json", summary)
    run.run_dir.write_per_class(
        per_class_rows(
            result,
            t.benchmark.classes,
            t.train_labels,
            t.benchmark.splits[split].labels,
            split,
        ),
        f"eval-{split}_per_class.csv",
    )
    return summary


def predict_inputs(
    run_dir: str | os.PathLike[str], inputs: str | os.PathLike[str], out: str | None = None
) -> Path:
    """Logits of new inputs (``.npy`` array, or a text file for text benchmarks)."""
    run = LoadedRun(run_dir)
    t = run.trainer
    path = Path(inputs)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: inputs file not found")
    classes = t.benchmark.classes
    if t.kind == "text":
        from palt.data.text import tfidf_features

        texts = path.read_text(encoding="utf-8").splitlines()
        train_texts = [str(r["text"]) for r in t.benchmark.splits["train"].inputs or []]
        matrix = tfidf_features(train_texts, texts, **dict(run.cfg.data.text or {})).matrices[1]
        dataset: Any = FeatureDataset(matrix, _unknown_labels(len(texts), classes))
    else:
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path}: expected a numeric .npy array ({err})") from None
        labels = _unknown_labels(len(array), classes)
        if t.kind == "array":
            from palt.data.datasets import ArrayImageDataset

            dataset = ArrayImageDataset(np.asarray(array, dtype=np.uint8), labels)
        else:
            dataset = FeatureDataset(array, labels)
        expected = tuple(t.datasets["train"].input_shape)  # type: ignore[attr-defined]
        if tuple(dataset.input_shape) != expected:
            raise ValueError(
                f"{path}: inputs of shape {dataset.input_shape}, the model expects {expected}"
            )
    n = len(dataset)
    loader = t._loader(dataset, EpochSampler(lambda _: np.arange(n)), run.cfg.data.eval_batch_size)
    _, logits = predict(t.fabric, t.network, t.method, loader)
    target = Path(out) if out else run.run_dir.root / "predictions" / "predict.logits.npy"
    target.parent.mkdir(parents=True, exist_ok=True)
    np.save(target, logits.astype(np.float32), allow_pickle=False)
    threshold = run.cfg.trainer.threshold
    with open(target.with_suffix(".jsonl"), "w", encoding="utf-8") as f:
        for row in logits:
            names = [classes[c] for c in np.flatnonzero(row > threshold)]
            f.write(json.dumps({"labels": names}, ensure_ascii=False) + "\n")
    return target


def _unknown_labels(n: int, classes: tuple[str, ...]) -> Any:
    from palt.labels import LabelSet

    return LabelSet.from_dense(np.full((n, len(classes)), -1, dtype=np.int8), classes)


__all__ = ["LoadedRun", "evaluate_run", "predict_inputs"]
