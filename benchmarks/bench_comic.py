"""Time one COMIC training step against a linear head + BCE (CPU).

One step = head forward on backbone features, loss, backward, Adam step. COMIC runs its three
branches (2048→1024 projections, normalised classifiers, attention) and five losses; the baseline is
``Linear(D, C)`` + ``binary_cross_entropy_with_logits``, and a *single branch* of the same
architecture (``Linear(D, 1024)`` + LogSoftmax + normalised classifier + MFM, the "Head Model"
of the paper's Table 1), the single-branch method COMIC should be compared with. With ``--backbone`` the per-step time of a
frozen torchvision ResNet-50 forward (random weights, 224 px, eval mode, no grad) is measured too, and
the per-epoch ratio on a frozen backbone computing features online is printed.

    python benchmarks/bench_comic.py [--threads 1] [--fused] [--backbone]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import palt.methods as methods
from palt.labels import LabelSet
from palt.losses.comic import MultiFocalModifier
from palt.methods import TrainContext
from palt.methods.comic_head import NormalizedClassifier


def _time(step, repeats: int) -> float:
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--fused", action="store_true", help="Adam(fused=True) for every head")
    parser.add_argument("--backbone", action="store_true", help="also time a ResNet-50 forward")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    c, d, b = args.classes, args.dim, args.batch
    rng = np.random.default_rng(0)
    labels = (rng.random((2000, c)) < np.geomspace(0.4, 0.003, c)).astype(np.int64)
    x = torch.randn(b, d)
    y = torch.as_tensor(labels[:b])
    idx = torch.arange(b)

    adam = {"fused": True} if args.fused else {}
    linear = torch.nn.Linear(d, c)
    opt_lin = torch.optim.Adam(linear.parameters(), 1e-3, **adam)

    def linear_step() -> None:
        loss = F.binary_cross_entropy_with_logits(linear(x), y.float())
        opt_lin.zero_grad()
        loss.backward()
        opt_lin.step()

    branch = torch.nn.Sequential(
        torch.nn.Linear(d, 1024), torch.nn.LogSoftmax(dim=1), NormalizedClassifier(1024, c)
    )
    mfm = MultiFocalModifier(torch.as_tensor(labels.sum(0)))
    opt_branch = torch.optim.Adam(branch.parameters(), 1e-3, **adam)

    def branch_step() -> None:
        loss = mfm(branch(x), y)
        opt_branch.zero_grad()
        loss.backward()
        opt_branch.step()

    rows = [
        ("linear + BCE", _time(linear_step, args.repeats)),
        ("single branch", _time(branch_step, args.repeats)),
    ]
    for name in ("comic", "comic-pfm", "comic-code"):
        method = methods.create(name)
        head = method.build_head(d, c)
        method.setup(TrainContext(LabelSet.from_dense(labels), epochs=1, steps_per_epoch=1))
        opt = torch.optim.Adam(method.param_groups(head, 1e-3), **adam)

        def comic_step(method=method, head=head, opt=opt) -> None:
            loss = method.loss(head(x), y, idx, 0)
            opt.zero_grad()
            loss.backward()
            opt.step()

        rows.append((name, _time(comic_step, args.repeats)))

    base, single = rows[0][1], rows[1][1]
    print(f"C={c} D={d} B={b} threads={torch.get_num_threads()} fused_adam={args.fused}")
    print(f"{'head step':<16}{'ms/step':>10}{'× linear':>10}{'× branch':>10}")
    for name, sec in rows:
        print(f"{name:<16}{sec * 1e3:>10.2f}{sec / base:>10.2f}{sec / single:>10.2f}")
    if args.backbone:
        from torchvision.models import resnet50

        net = resnet50(weights=None).eval()
        images = torch.randn(b, 3, 224, 224)

        def backbone_step() -> None:
            with torch.no_grad():
                net(images)

        bb = _time(backbone_step, max(2, args.repeats // 10))
        comic = rows[2][1]
        print(f"ResNet-50 forward (frozen): {bb * 1e3:.0f} ms/step")
        print(
            f"per-epoch ratio, online frozen backbone: comic / linear {(bb + comic) / (bb + base):.3f}"
        )


if __name__ == "__main__":
    main()
