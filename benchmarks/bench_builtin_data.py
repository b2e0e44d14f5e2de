"""Timings and sizes of the built-in real data (Debtags snapshot, MultiMNIST-LT composition).

    python benchmarks/bench_builtin_data.py [--inputs DIR] [--n 20000]

``DIR`` is the folder made by ``scripts/fetch_multimnist_inputs.sh`` (``mnist/``,
``fashion-mnist/``); without it only the Debtags part runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from palt.data.builtin.debtags import SNAPSHOT, load_debtags, snapshot_dir
from palt.data.builtin.multimnist import compose_multimnist, read_idx_split
from palt.data.text import tfidf_features


class Seconds(float):
    """Wall-clock seconds that also carry the process CPU time (robust on a busy machine)."""

    cpu: float

    def __format__(self, spec: str) -> str:
        return f"{float(self):{spec}} (cpu {self.cpu:{spec}})"


def timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    seconds = Seconds(time.perf_counter() - wall)
    seconds.cpu = time.process_time() - cpu
    return out, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=Path)
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args()

    size = (snapshot_dir() / SNAPSHOT).stat().st_size
    data, t_load = timed(load_debtags, 5)
    lab = data.labels
    print(f"debtags snapshot      {size / 1e6:.2f} MB, {data.manifest['rows']} rows")
    print(
        f"load_debtags(5)       {t_load:.2f} s -> {lab.n_samples} packages x {lab.n_classes} tags"
    )
    print(f"cardinality           {lab.cardinality():.2f}, top tag {lab.positive_counts().max()}")
    order = np.random.default_rng(0).permutation(lab.n_samples)
    cut = int(0.8 * len(order))
    train = [data.texts[i] for i in order[:cut]]
    test = [data.texts[i] for i in order[cut:]]
    with tempfile.TemporaryDirectory() as cache:
        feats, t_fit = timed(tfidf_features, train, test, cache_dir=cache)
        _, t_cached = timed(tfidf_features, train, test, cache_dir=cache)
    shape = feats.matrices[0].shape
    print(f"tfidf fit+transform   {t_fit:.2f} s (train {shape}), from cache {t_cached:.2f} s")

    if args.inputs is None:
        return
    (digits, t_mnist) = timed(read_idx_split, args.inputs / "mnist", "train")
    (fashion, t_fashion) = timed(read_idx_split, args.inputs / "fashion-mnist", "train")
    print(f"read IDX              mnist {t_mnist:.2f} s, fashion-mnist {t_fashion:.2f} s")
    (images, labels, _), t_comp = timed(compose_multimnist, digits, fashion, args.n, seed=0)
    counts = labels.positive_counts()
    print(f"compose {args.n} images  {t_comp:.2f} s, cardinality {labels.cardinality():.2f}")
    print(f"images per class      max {counts.max()}, min {counts.min()}")


if __name__ == "__main__":
    main()
