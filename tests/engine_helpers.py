"""Tiny synthetic benchmarks and configs for the engine tests (features and array images)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from palt.data.benchmark import SplitData, write_benchmark
from palt.labels import LabelSet

CLASSES = ["a", "b", "c", "d", "e"]


def _labels(rng, x, weights, unknown, ids):
    full = (x @ weights + 0.3 * rng.standard_normal((len(x), weights.shape[1])) > 0.4).astype(
        np.int8
    )
    observed = full.copy()
    observed[rng.random(full.shape) < unknown] = -1
    return (
        LabelSet.from_dense(observed, CLASSES, ids),
        LabelSet.from_dense(full, CLASSES, ids),
    )


def feature_benchmark(
    root: Path, sizes=(64, 24, 31), dim=12, unknown=0.3, seed=0
) -> tuple[Path, Path]:
    """A learnable benchmark (labels from a linear model of the features) + its feature folder."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((dim, len(CLASSES)))
    splits, feats = {}, {}
    for name, n in zip(("train", "val", "test"), sizes, strict=True):
        x = rng.standard_normal((n, dim)).astype(np.float32)
        ids = [f"{name}{i}" for i in range(n)]
        labels, full = _labels(rng, x, weights, unknown if name == "train" else 0.1, ids)
        splits[name] = SplitData(labels, full, [{"id": i, "text": f"doc {i}"} for i in ids])
        feats[name] = x
    bench = write_benchmark(
        root / "bench", splits, name="toy-features", input_kind="text", params={}, seed=seed
    )
    folder = root / "features"
    folder.mkdir(parents=True, exist_ok=True)
    for name, x in feats.items():
        np.save(folder / f"{name}.npy", x)
    return bench, folder


def array_benchmark(root: Path, sizes=(40, 12, 13), side=12, seed=0) -> Path:
    """Images whose class c is 'a bright square in cell c' (learnable by a small CNN)."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in zip(("train", "val", "test"), sizes, strict=True):
        full = (rng.random((n, len(CLASSES))) < 0.4).astype(np.int8)
        images = rng.integers(0, 40, size=(n, side, side), dtype=np.uint8)
        for i in range(n):
            for c in np.flatnonzero(full[i]):
                r, k = divmod(int(c), 3)
                images[i, 4 * r : 4 * r + 3, 4 * k : 4 * k + 3] = 250
        observed = full.copy()
        observed[rng.random(full.shape) < 0.2] = -1
        ids = [f"{name}{i}" for i in range(n)]
        splits[name] = SplitData(
            LabelSet.from_dense(observed, CLASSES, ids),
            LabelSet.from_dense(full, CLASSES, ids),
            images=images,
        )
    return write_benchmark(
        root / "bench", splits, name="toy-array", input_kind="array", params={}, seed=seed
    )


def feature_config(root: Path, bench: Path, features: Path, **sections) -> dict:
    config = {
        "data": {"benchmark": str(bench), "features": str(features), "batch_size": 16},
        "method": {"name": "bce"},
        "optim": {"name": "adam", "lr": 0.05, "weight_decay": 0.0},
        "trainer": {"epochs": 3, "seed": 0, "progress": "off"},
        "output": {"dir": str(root / "runs"), "name": "run"},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def cli(
    *args: str, timeout: float = 120, env: dict | None = None, **kw
) -> subprocess.CompletedProcess:
    """Run ``python -m palt.cli ARGS`` (so Fabric's launcher can re-run the same command)."""
    full_env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "palt.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        **kw,
    )


def text_benchmark(root: Path, sizes=(60, 20, 21), seed=0) -> Path:
    """Texts that mention a keyword of each of their classes among filler words."""
    rng = np.random.default_rng(seed)
    keywords = ["audio", "network", "editor", "game", "science"]
    filler = ["tool", "program", "utility", "library", "package", "data", "files"]
    splits = {}
    for name, n in zip(("train", "val", "test"), sizes, strict=True):
        full = (rng.random((n, len(CLASSES))) < 0.35).astype(np.int8)
        texts = []
        for row in full:
            words = [keywords[c] for c in np.flatnonzero(row)] + list(rng.choice(filler, 4))
            texts.append(" ".join(rng.permutation(words)))
        observed = full.copy()
        observed[rng.random(full.shape) < 0.2] = -1
        ids = [f"{name}{i}" for i in range(n)]
        splits[name] = SplitData(
            LabelSet.from_dense(observed, CLASSES, ids),
            LabelSet.from_dense(full, CLASSES, ids),
            [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)],
        )
    return write_benchmark(
        root / "bench", splits, name="toy-text", input_kind="text", params={}, seed=seed
    )
