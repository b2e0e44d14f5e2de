"""What a comparison runs: one engine config per (method, seed), and the hash that names it.

The recipe (input handling, optimiser, schedule, epochs) follows the benchmark's input kind and is
the same for every method, except where a method's own page asks for something else
(:data:`METHOD_OVERRIDES`). Every run is identified by the SHA-256 of its fully resolved config
(method hyper-parameters included, output location and progress display excluded) and of the
benchmark's ``manifest.json``: a finished run with the same hash is reused, a different hash is a
different run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palt.data.benchmark import Benchmark
from palt.engine.config import Config, load_config
from palt.methods import create

#: the default comparison: one method per family (``csl`` in two of its modes)
DEFAULT_METHODS: tuple[str, ...] = (
    "bce",
    "focal",
    "asl",
    "db-focal",
    "csl-ignore",
    "csl-selective",
    "plm",
    "hill",
    "splc",
    "ll-r",
    "pseudo-stat",
    "comic",
)
DEFAULT_SEEDS = 3  # ``palt compare --seeds`` repeats it

#: training recipe per benchmark input kind (``{cache}`` = the comparison's feature cache)
RECIPES: dict[str, dict[str, Any]] = {
    "text": {
        "data": {
            "input": "text",
            "text": {"max_features": 5000, "min_df": 2, "cache_dir": "{cache}"},
            "batch_size": 512,
            "eval_batch_size": 2048,
        },
        "optim": {"name": "adam", "lr": 0.3, "weight_decay": 0.0},
        "schedule": {"name": "cosine"},
        "trainer": {"epochs": 4},
    },
    "array": {
        "data": {
            "input": "array",
            "augment": {"crop_padding": 4, "flip": False},
            "batch_size": 128,
            "eval_batch_size": 512,
        },
        "model": {"backbone": "cnn", "params": {"widths": [32, 64, 128]}},
        "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 0.0005},
        "schedule": {"name": "onecycle", "pct_start": 0.2},
        "trainer": {"epochs": 5},
    },
}

#: per-method changes to the recipe, as dotted overrides. COMIC on text: three 256-wide
#: branches instead of 1024 (the paper's width has ≈ 7× the parameters of a linear head on 5,000
#: TF-IDF features), a 10× smaller step for its MLP branches, and the engine's schedule instead of
#: the official epoch-12/18/24 steps (which a 4-epoch run never reaches). DB on text: plain
#: shuffling, because the class-aware sampler's epoch (max_c n_c · C / 4 draws) is 46 ordinary
#: epochs on Debtags (6,512 × 418 / 4 for 14,774 documents)
METHOD_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "text": {
        "db-focal": {"data.sampler": "shuffle"},
        "comic": {
            "method.params.hidden": 256,
            "method.params.lr_steps": "none",
            "optim.lr": 0.03,
            "optim.weight_decay": 0.0001,
        },
    },
    "array": {},
}


@dataclass(frozen=True)
class RunPlan:
    """One run of a comparison."""

    method: str
    seed: int
    config: Config
    key: str  # hash of the resolved config and the benchmark manifest

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir


def resolved_dict(config: Config) -> dict[str, Any]:
    """The config as the engine writes it: method parameters resolved to every default."""
    out = config.to_dict()
    out["method"]["params"] = create(config.method.name, **config.method.params).hyperparameters()
    return out


def config_key(config: Config, benchmark: Benchmark) -> str:
    """SHA-256 (hex, 16 characters) of the resolved config without the places (``output``,
    ``data.benchmark``, the feature cache) and ``trainer.progress``, plus the benchmark's
    manifest bytes."""
    d = resolved_dict(config)
    d.pop("output")
    d["trainer"].pop("progress")
    d["data"].pop("benchmark")  # the manifest identifies the data, wherever it lives
    d["data"]["text"].pop("cache_dir", None)
    h = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode())
    h.update((benchmark.root / "manifest.json").read_bytes())
    return h.hexdigest()[:16]


def plan_runs(
    benchmark: Benchmark,
    methods: list[str],
    seeds: list[int],
    out: Path,
    *,
    epochs: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> list[RunPlan]:
    """Configs of every (method, seed), in method-major order; ``overrides`` (dotted
    ``key=value``) apply to every run after the recipe."""
    kind = benchmark.input_kind
    if kind not in RECIPES:
        raise ValueError(
            f"{benchmark.root}: no compare recipe for input kind {kind!r} "
            f"(known: {', '.join(RECIPES)}); image-file benchmarks need cached features "
            "and a config for `palt train`"
        )
    recipe = _format(RECIPES[kind], cache=str(out / "cache"))
    plans = []
    for method in methods:
        extra = [f"{k}={json.dumps(v)}" for k, v in METHOD_OVERRIDES[kind].get(method, {}).items()]
        for seed in seeds:
            raw = json.loads(json.dumps(recipe))
            raw["data"]["benchmark"] = str(benchmark.root)
            raw["method"] = {"name": method, "params": {}}
            raw["trainer"]["seed"] = seed
            if epochs is not None:
                raw["trainer"]["epochs"] = epochs
            raw["trainer"]["progress"] = "off"
            config = load_config(raw, [*extra, *overrides])
            key = config_key(config, benchmark)
            config.output.dir = str(out / "runs")
            config.output.name = f"{method}-s{seed}-{key}"
            plans.append(RunPlan(method, seed, config, key))
    return plans


def _format(obj: Any, **values: str) -> Any:
    if isinstance(obj, dict):
        return {k: _format(v, **values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_format(v, **values) for v in obj]
    if isinstance(obj, str):
        return obj.format(**values)
    return obj
