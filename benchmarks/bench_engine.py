"""Engine throughput on CPU: training samples per second, measured through ``palt.engine.fit``.

Per configuration, two runs of 1 and 3 epochs on the same synthetic benchmark; the time
difference / 2 is one epoch of training plus its validation pass (a small val split), so start-up,
the prior stage and the final test pass cancel out.

    python benchmarks/bench_engine.py            # uses 2 threads
    python benchmarks/bench_engine.py --quick    # smaller sizes
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from palt.data.benchmark import SplitData, write_benchmark
from palt.engine import fit
from palt.labels import LabelSet
from palt.methods import available


def _labels(rng: np.random.Generator, n: int, c: int) -> LabelSet:
    full = (rng.random((n, c)) < np.linspace(0.3, 0.01, c)).astype(np.int8)
    full[rng.random(full.shape) < 0.3] = -1
    return LabelSet.from_dense(full, [f"c{k}" for k in range(c)])


def feature_bench(root: Path, n: int, c: int, d: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    sizes = {"train": n, "val": 256, "test": 256}
    splits = {
        s: SplitData(_labels(rng, m, c), inputs=[{"id": str(i), "text": ""} for i in range(m)])
        for s, m in sizes.items()
    }
    bench = write_benchmark(root / "fb", splits, name="fb", input_kind="text", params={}, seed=0)
    for s, m in sizes.items():
        (root / "feat").mkdir(exist_ok=True)
        np.save(root / "feat" / f"{s}.npy", rng.standard_normal((m, d)).astype(np.float32))
    return bench, root / "feat"


def image_bench(root: Path, n: int, c: int, side: int) -> Path:
    rng = np.random.default_rng(0)
    sizes = {"train": n, "val": 128, "test": 128}
    splits = {
        s: SplitData(
            _labels(rng, m, c), images=rng.integers(0, 256, (m, side, side), dtype=np.uint8)
        )
        for s, m in sizes.items()
    }
    return write_benchmark(root / "ib", splits, name="ib", input_kind="array", params={}, seed=0)


def epoch_seconds(config: dict, root: Path, tag: str) -> float:
    times = []
    for epochs in (1, 3):
        cfg = {
            **config,
            "trainer": {"epochs": epochs, "progress": "off"},
            "output": {"dir": str(root / "runs"), "name": f"{tag}-{epochs}"},
        }
        start = time.perf_counter()
        fit(cfg)
        times.append(time.perf_counter() - start)
    return (times[1] - times[0]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_feat, n_img = (2048, 512) if args.quick else (8192, 2048)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bench, feats = feature_bench(root, n_feat, 80, 2048)
        data = {"benchmark": str(bench), "features": str(feats), "batch_size": 64}
        methods = [("linear head (bce)", "bce", {})]
        if "comic" in available():
            methods.append(("COMIC", "comic", {}))
        for label, name, params in methods:
            cfg = {"data": data, "method": {"name": name, "params": params}}
            sec = epoch_seconds(cfg, root, name)
            rows.append((f"features D=2048 C=80, {label}", n_feat, sec))
        ib = image_bench(root, n_img, 20, 64)
        cfg = {
            "data": {"benchmark": str(ib), "batch_size": 64, "augment": {"crop_padding": 4}},
            "model": {"backbone": "cnn"},
            "method": {"name": "bce"},
        }
        rows.append(
            ("array images 64×64, built-in CNN (32-64-128)", n_img, epoch_seconds(cfg, root, "cnn"))
        )
    print(f"threads: {torch.get_num_threads()}, batch 64, fp32, 1 process")
    print(f"{'setting':50s} {'train N':>8s} {'s/epoch':>8s} {'samples/s':>10s}")
    for label, n, sec in rows:
        print(f"{label:50s} {n:8d} {sec:8.2f} {n / sec:10.0f}")


if __name__ == "__main__":
    main()
