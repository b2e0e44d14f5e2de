"""Class-aware sampler (Shen et al. 2016; as used by the Distribution-Balanced loss, ECCV 2020).

Draws a class uniformly, then an image of that class uniformly, so every class is seen equally
often whatever its frequency. Concretely (spec losses.md §1.6):

* classes are visited in a random cyclic order, reshuffled at the start of every cycle;
* each visit takes ``num_samples_cls`` consecutive rows from that class's own cyclic list of
  positive rows, reshuffled every time it is exhausted;
* one epoch is ``floor(max_c n_c · C' / reduce)`` draws, where n_c is the number of (observed)
  positive rows of class c and C' the number of classes with at least one positive (classes
  without positives cannot be drawn and are skipped; C' = C with full labels).

Unlike the reference (seeded once at construction), the order is a pure function of
``(seed, epoch)``: call :meth:`set_epoch` before each epoch to get a new order; the same pair
always gives the same order, which makes a resumed run draw exactly what the original did.
Single process only (a distributed run needs to shard the indices itself).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from palt.labels import LabelSet


class ClassAwareSampler(Sampler[int]):
    """Class-aware re-sampling over the observed positives of a :class:`LabelSet`.

    Works with dense and sparse label sets (uses per-class positive rows, never densifies).

    Args:
        labels: training labels (1 / 0 / −1); only positives matter.
        num_samples_cls: consecutive rows drawn per class visit (reference: 3).
        reduce: epoch length divisor (reference: 4).
        seed: base seed; the draw order depends only on ``(seed, epoch)``.
    """

    def __init__(
        self, labels: LabelSet, num_samples_cls: int = 3, reduce: int = 4, seed: int = 0
    ) -> None:
        for name, value in (("num_samples_cls", num_samples_cls), ("reduce", reduce)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int ≥ 0, got {seed!r}")
        rows = [labels.column_entries(c)[0].astype(np.int64) for c in range(labels.n_classes)]
        self.classes = np.array([c for c, r in enumerate(rows) if len(r)], dtype=np.int64)
        if len(self.classes) == 0:
            raise ValueError("ClassAwareSampler: no class has a positive label to sample from")
        self._rows = [rows[c] for c in self.classes]
        self.num_samples_cls = num_samples_cls
        self.reduce = reduce
        self.seed = seed
        self.epoch = 0
        max_count = max(len(r) for r in self._rows)
        self.num_samples = max(1, (max_count * len(self.classes)) // reduce)

    def set_epoch(self, epoch: int) -> None:
        """Select the draw order of ``epoch`` (0-based)."""
        if epoch < 0:
            raise ValueError(f"epoch must be ≥ 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        return iter(self.draw().tolist())

    def draw(self) -> np.ndarray:
        """The row indices of the current epoch, in order (length ``len(self)``)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        n_cls = len(self._rows)
        perms: list[np.ndarray | None] = [None] * n_cls
        cursor = np.zeros(n_cls, dtype=np.int64)
        out = np.empty(self.num_samples, dtype=np.int64)
        filled = 0
        order = np.empty(0, dtype=np.int64)
        pos = 0
        while filled < self.num_samples:
            if pos == len(order):
                order, pos = rng.permutation(n_cls), 0
            k = int(order[pos])
            pos += 1
            for _ in range(min(self.num_samples_cls, self.num_samples - filled)):
                perm = perms[k]
                if perm is None or cursor[k] == len(perm):
                    perm = perms[k] = rng.permutation(self._rows[k])
                    cursor[k] = 0
                out[filled] = perm[cursor[k]]
                cursor[k] += 1
                filled += 1
        return out

    def state_dict(self) -> dict[str, int]:
        """Everything needed to reproduce the order: seed, epoch and the two size parameters."""
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "num_samples_cls": self.num_samples_cls,
            "reduce": self.reduce,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore :meth:`state_dict`; the size parameters must match this sampler's."""
        for key in ("num_samples_cls", "reduce"):
            if state.get(key, getattr(self, key)) != getattr(self, key):
                raise ValueError(
                    f"state has {key}={state[key]}, this sampler has {getattr(self, key)}"
                )
        self.seed = int(state["seed"])
        self.set_epoch(int(state["epoch"]))
