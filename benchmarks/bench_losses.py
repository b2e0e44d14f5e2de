"""Forward + backward time of every registered method against a linear head + plain BCE, on CPU.

For each name in ``palt.methods.available()`` the method is created with its defaults, set up
on a synthetic long-tailed, partially-labelled training set (N = 2,000), given random
probabilities if it asks for an extra stage, and its own head is built on D-dim features.
Two timings per shape (best of ``--repeats`` after warm-up, fewer for a method whose step takes
seconds; the minimum is the estimate least disturbed by other processes on a shared machine):

* ``step``: head(features) → method.loss(...) → backward, against nn.Linear + BCE-with-logits;
* ``loss``: method.loss on detached head outputs → backward, against BCE-with-logits alone.

Shapes: B=256, C=80 and B=64, C=10,000. Target: ratio ≤ 3 (flagged ``!`` otherwise).

    python benchmarks/bench_losses.py [--repeats 20] [--methods asl bce ...]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import palt.methods as pm
from palt.labels import LabelSet
from palt.methods import TrainContext

SHAPES = ((256, 80), (64, 10_000))
N_TRAIN = 2_000
EPOCH = 2  # late enough for epoch-scheduled corrections (SPLC, LL-*) to be active
TARGET_RATIO = 3.0


def long_tailed_labels(n: int, c: int, seed: int = 0, unknown_rate: float = 0.4) -> LabelSet:
    """n_c ≈ 0.3·n/(c+1), at least 2 (rows drawn with replacement), then a share of entries made
    unknown, keeping at least one observed positive per class."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(2, (0.3 * n / np.arange(1, c + 1)).astype(int))
    cls = np.repeat(np.arange(c), counts)
    labels = np.zeros((n, c), dtype=np.int8)
    labels[rng.integers(0, n, size=len(cls)), cls] = 1
    hidden = rng.random((n, c), dtype=np.float32) < unknown_rate
    hidden[labels.argmax(axis=0), np.arange(c)] = False
    labels[hidden] = -1
    return LabelSet.from_dense(labels)


def best_time(fn: Callable[[], None], repeats: int, budget: float = 5.0) -> float:
    """Best of ``repeats`` runs after warm-up; fewer runs when one run is slow (``budget`` s)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if first * (repeats + 2) > budget:
        repeats = max(1, int(budget / max(first, 1e-9)))
    else:
        fn()
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def as_leaves(outputs: torch.Tensor | dict[str, torch.Tensor]):
    if isinstance(outputs, dict):
        return {
            k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in outputs.items()
        }
    return outputs.detach().clone().requires_grad_()


def prepare_method(name: str, labels: LabelSet, batch: int, dim: int):
    method = pm.create(name)
    method.train()
    n, c = labels.shape
    method.setup(TrainContext(train_labels=labels, epochs=10, steps_per_epoch=n // batch))
    if method.prior_stage() is not None:
        method.consume_stage(torch.rand(n, c, generator=torch.Generator().manual_seed(1)))
    head = method.build_head(dim, c)
    head.train()
    method.on_epoch_start(EPOCH)
    return method, head


class Shape:
    """One benchmark shape: synthetic training labels, a batch, and the BCE reference times."""

    def __init__(self, batch: int, classes: int, dim: int, repeats: int) -> None:
        self.batch, self.classes, self.dim, self.repeats = batch, classes, dim, repeats
        self.labels = long_tailed_labels(N_TRAIN, classes)
        rows = np.random.default_rng(2).choice(N_TRAIN, batch, replace=False)
        self.indices = torch.from_numpy(rows)
        self.targets = torch.from_numpy(self.labels.rows(rows))
        self.features = torch.randn(batch, dim, generator=torch.Generator().manual_seed(3))
        bce_targets = self.targets.clamp(min=0).float()
        linear = nn.Linear(dim, classes)
        leaf = as_leaves(linear(self.features))

        def step() -> None:
            linear.zero_grad(set_to_none=True)
            F.binary_cross_entropy_with_logits(linear(self.features), bce_targets).backward()

        def loss_only() -> None:
            leaf.grad = None
            F.binary_cross_entropy_with_logits(leaf, bce_targets).backward()

        self.reference = (best_time(step, repeats), best_time(loss_only, repeats))

    def time_method(self, name: str) -> tuple[float, float] | str:
        """(step, loss-only) best seconds, or the error that stopped the method."""
        try:
            method, head = prepare_method(name, self.labels, self.batch, self.dim)

            def step() -> None:
                head.zero_grad(set_to_none=True)
                method.loss(head(self.features), self.targets, self.indices, EPOCH).backward()

            with torch.no_grad():
                outputs = as_leaves(head(self.features))

            def loss_only() -> None:
                method.loss(outputs, self.targets, self.indices, EPOCH).backward()

            return best_time(step, self.repeats), best_time(loss_only, self.repeats)
        except Exception as err:  # report and go on: the table must cover every method
            return f"{type(err).__name__}: {err}"[:60]

    def cell(self, times: tuple[float, float] | str) -> str:
        if isinstance(times, str):
            return f"{times:<30}"
        r_step, r_loss = (t / ref for t, ref in zip(times, self.reference, strict=True))
        flag = "!" if max(r_step, r_loss) > TARGET_RATIO else " "
        return f"{times[0] * 1e3:9.2f} {r_step:6.2f} {r_loss:6.2f}{flag}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dim", type=int, default=256, help="feature dimension D")
    parser.add_argument("--methods", nargs="*", default=None, help="default: every method")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: least noise)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.methods or pm.available()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, D={args.dim}, N={N_TRAIN}"
    )
    shapes = [Shape(b, c, args.dim, args.repeats) for b, c in SHAPES]
    head = f"{'method':<16}" + "".join(
        f" | {f'B={s.batch} C={s.classes}':<13}{'ratio':>6} {'loss':>6} " for s in shapes
    )
    print(head + "\n" + f"{'':<16}" + " | step ms       step   only " * len(shapes))
    print("-" * len(head))
    print(
        f"{'BCE (reference)':<16}"
        + "".join(f" | {s.reference[0] * 1e3:9.2f} {1:6.2f} {1:6.2f} " for s in shapes)
    )
    for name in names:
        print(
            f"{name:<16}" + "".join(f" | {s.cell(s.time_method(name))}" for s in shapes), flush=True
        )
    print(
        "step = head(features) → loss → backward, vs nn.Linear + BCE-with-logits; "
        "loss only = loss → backward on detached head outputs, vs BCE-with-logits; "
        f"'!' = ratio above {TARGET_RATIO:g}"
    )


if __name__ == "__main__":
    main()
