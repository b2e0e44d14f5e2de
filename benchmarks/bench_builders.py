"""Time the benchmark builders on a COCO-train-sized label matrix (118,287 × 80, synthetic).

The labels mimic COCO's shape: long-tailed class frequencies (the most frequent class in about
54 % of the images, like ``person``), co-occurrence from 12 latent scene types, about 2.9
positives per image. Prints the time of each step of ``plt-coco`` and of the whole
``build_benchmark`` (CSV read → long tail → val carve → missing labels → atomic write).

    python benchmarks/bench_builders.py [--rows 118287] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from palt.data.build import BuildInputs, build_benchmark, longtail_rows
from palt.data.labelcsv import read_label_csv
from palt.data.missing import drop_positives
from palt.data.presets import get_preset
from palt.data.stratify import stratified_split
from palt.labels import LabelSet


def synthetic_coco(n: int, seed: int) -> np.ndarray:
    """0/1 matrix n × 80 with long-tailed frequencies and scene-driven co-occurrence."""
    rng = np.random.default_rng(seed)
    c, k = 80, 12
    base = np.concatenate([[0.54], np.geomspace(0.07, 0.002, c - 1)])
    boost = np.ones((k, c))
    for s in range(k):
        boost[s, rng.choice(np.arange(1, c), size=10, replace=False)] = 6.0
    scene = rng.integers(0, k, size=n)
    p = np.minimum(0.95, base[None, :] * boost[scene])
    y = (rng.random((n, c)) < p).astype(np.int8)
    empty = y.sum(1) == 0
    y[empty, rng.integers(0, c, size=int(empty.sum()))] = 1
    return y


def write_csv(path: Path, y: np.ndarray, prefix: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", *[f"class_{j}" for j in range(y.shape[1])]])
        for i, row in enumerate(y.tolist()):
            w.writerow([f"{prefix}{i}", *row])


def timed(label: str, fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    print(f"  {label:<44} {time.perf_counter() - t:8.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=118_287)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    y = synthetic_coco(args.rows, args.seed)
    print(f"synthetic COCO train: {y.shape[0]} × {y.shape[1]}, {y.sum(1).mean():.2f} pos/img, "
          f"max/min class {y.sum(0).max()}/{y.sum(0).min()}")  # fmt: skip
    preset = get_preset("plt-coco")
    with tempfile.TemporaryDirectory() as tmp:
        src, test = Path(tmp) / "train.csv", Path(tmp) / "val.csv"
        write_csv(src, y, "")
        write_csv(test, synthetic_coco(5000, args.seed + 1), "v")
        print("steps of plt-coco:")
        labels, _ = timed("read label CSV", read_label_csv, src)
        sparse = LabelSet.from_dense(y).to_sparse("negative")
        rows = timed(
            "long-tail selection (dense labels)",
            longtail_rows,
            labels,
            preset.longtail,
            random.Random(0),
        )
        timed("long-tail selection (sparse labels)", longtail_rows, sparse, preset.longtail,
              random.Random(0))  # fmt: skip
        pool = labels.subset(rows)
        parts = timed("iterative stratification 90/10", stratified_split, pool, [0.9, 0.1])
        timed("drop positives ρ=0.4", drop_positives, pool.subset(parts[0]), 0.4)
        print(f"  selected {len(rows)} images")
        inputs = BuildInputs(source=src, test_source=test)
        t = time.perf_counter()
        build_benchmark(preset, Path(tmp) / "bench", inputs)
        print(f"whole build_benchmark(plt-coco) incl. reading both CSVs and writing: "
              f"{time.perf_counter() - t:.2f} s")  # fmt: skip
        print("full 118k × 80 stratification 90/10 (not part of plt-coco):")
        timed("iterative stratification", stratified_split, labels, [0.9, 0.1])


if __name__ == "__main__":
    main()
