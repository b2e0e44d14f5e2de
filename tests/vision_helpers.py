"""A tiny image-file benchmark for the vision tests: PNGs written by the test, one corrupt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from palt.data.benchmark import SplitData, write_benchmark
from palt.labels import LabelSet

CLASSES = ["a", "b", "c", "d"]


def image_benchmark(
    root: Path, sizes=(12, 6, 7), side=24, seed=0, corrupt: tuple[tuple[str, int], ...] = ()
) -> Path:
    """RGB PNGs where class c is a bright square in quadrant c; each ``(split, row)`` in
    ``corrupt`` replaces that image by bytes that are not an image."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    splits = {}
    h = side // 2
    for name, n in zip(("train", "val", "test"), sizes, strict=True):
        full = (rng.random((n, len(CLASSES))) < 0.5).astype(np.int8)
        inputs = []
        for i in range(n):
            img = rng.integers(0, 60, size=(side, side, 3), dtype=np.uint8)
            for c in np.flatnonzero(full[i]):
                r, k = divmod(int(c), 2)
                img[r * h + 2 : r * h + h - 2, k * h + 2 : k * h + h - 2] = 240
            rel = f"{name}/{i:03d}.png"
            (images / name).mkdir(exist_ok=True)
            if (name, i) in corrupt:
                (images / rel).write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
            else:
                Image.fromarray(img).save(images / rel)
            inputs.append({"id": f"{name}{i}", "path": rel})
        observed = full.copy()
        observed[rng.random(full.shape) < 0.2] = -1
        ids = [r["id"] for r in inputs]
        splits[name] = SplitData(
            LabelSet.from_dense(observed, CLASSES, ids),
            LabelSet.from_dense(full, CLASSES, ids),
            inputs,
        )
    return write_benchmark(
        root / "bench", splits, name="toy-images", input_kind="image", params={}, seed=seed,
        input_root=str(images),
    )  # fmt: skip
