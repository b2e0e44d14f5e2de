"""``MultilabelAccumulator``: collect (sample index, fp32 logits, targets) batch by batch.

Distributed evaluation pads every rank to the same length by repeating samples
(``DistributedSampler``), so gathered predictions contain duplicates. The accumulator keys every
row by its dataset index and keeps the first occurrence of each index (rows are then ordered by
index), so the metrics are those of the de-duplicated set; duplicates whose *targets* differ mean
the indices are not dataset-global, and are an error. Logits of duplicates are not compared
(different batch compositions may change the last bits).

Storage: ``sparse=False`` keeps dense rows (fp32 logits and int8 targets); ``sparse=True`` keeps
only the annotated entries (index, class, fp32 logit, label) — for sparsely annotated sets, where
top-k then ranks the annotated entries only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from palt.labels import LabelSet
from palt.metrics._arrays import (
    MetricInputError,
    as_indices,
    as_scores,
    as_targets,
    check_finite,
    check_states,
)
from palt.metrics.evaluate import evaluate
from palt.metrics.result import EvalResult
from palt.metrics.sparse_scores import SparseScores


class MultilabelAccumulator:
    """``update`` / ``merge`` / ``compute`` / ``reset`` over batches of (indices, logits, targets)."""

    def __init__(
        self, num_classes: int, class_names: Sequence[str] | None = None, sparse: bool = False
    ) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be ≥ 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.class_names = tuple(class_names) if class_names is not None else None
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names has {len(self.class_names)} names for {num_classes} classes"
            )
        self.sparse = bool(sparse)
        self._batches: list[tuple[np.ndarray, tuple[np.ndarray, ...]]] = []

    def reset(self) -> None:
        """Forget every batch."""
        self._batches = []

    def update(self, indices: Any, logits: Any, targets: Any) -> None:
        """Add a batch: ``indices`` (B,) dataset indices, ``logits`` B×C, ``targets`` B×C in
        {1, 0, −1} (array, tensor or LabelSet)."""
        idx = as_indices(indices, "indices")
        s = as_scores(logits, "logits").astype(np.float32, copy=False)
        b, c = len(idx), self.num_classes
        if s.shape != (b, c):
            raise MetricInputError(f"logits: expected shape ({b}, {c}), got {s.shape}")
        check_finite(
            s, "logits", lambda k: f"batch row {k // c} (index {idx[k // c]}), class {k % c}"
        )
        if isinstance(targets, LabelSet):
            if targets.shape != (b, c):
                raise MetricInputError(f"targets: expected shape ({b}, {c}), got {targets.shape}")
            if self.sparse and targets.is_sparse and targets.unlisted == "unknown":
                pi, px, ni, nx = targets.csr_arrays()
                pos_r = np.repeat(np.arange(b), np.diff(pi))
                neg_r = np.repeat(np.arange(b), np.diff(ni))
                rows = np.concatenate([pos_r, neg_r])
                cols = np.concatenate([px, nx]).astype(np.int64)
                labels = np.concatenate([np.ones(len(px), np.int8), np.zeros(len(nx), np.int8)])
                self._batches.append((idx, (rows, cols, s[rows, cols], labels)))
                return
            t = targets.to_dense()
        else:
            t = as_targets(targets, "targets")
            if t.shape != (b, c):
                raise MetricInputError(f"targets: expected shape ({b}, {c}), got {t.shape}")
            check_states(
                t, "targets", lambda k: f"batch row {k // c} (index {idx[k // c]}), class {k % c}"
            )
            t = t.astype(np.int8)
        if self.sparse:
            rows, cols = np.nonzero(t >= 0)
            self._batches.append((idx, (rows, cols, s[rows, cols], t[rows, cols])))
        else:
            self._batches.append((idx, (np.array(s, dtype=np.float32), t)))

    def merge(self, other: MultilabelAccumulator) -> MultilabelAccumulator:
        """Append the batches of ``other`` (e.g. another rank's); returns ``self``."""
        if not isinstance(other, MultilabelAccumulator):
            raise TypeError(f"can only merge a MultilabelAccumulator, got {type(other).__name__}")
        mine = (self.num_classes, self.class_names, self.sparse)
        theirs = (other.num_classes, other.class_names, other.sparse)
        if mine != theirs:
            raise ValueError(
                f"cannot merge accumulators with different (num_classes, class_names, sparse): "
                f"{mine} vs {theirs}"
            )
        self._batches.extend(other._batches)
        return self

    def _dense_row(self, batch: int, row: int) -> np.ndarray:
        payload = self._batches[batch][1]
        if not self.sparse:
            return payload[1][row]
        rows, cols, _, labels = payload
        out = np.full(self.num_classes, -1, np.int8)
        hit = rows == row
        out[cols[hit]] = labels[hit]
        return out

    def collect(self) -> tuple[np.ndarray, np.ndarray | SparseScores, np.ndarray | LabelSet]:
        """De-duplicated (sorted indices, scores, targets): dense arrays, or ``SparseScores``
        and a sparse ``LabelSet`` when ``sparse=True``; row i belongs to ``indices[i]``."""
        if not self._batches:
            raise ValueError("the accumulator is empty: call update() before compute()")
        all_idx = np.concatenate([i for i, _ in self._batches])
        uniq, first = np.unique(all_idx, return_index=True)
        sizes = np.array([len(i) for i, _ in self._batches])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        is_first = np.zeros(len(all_idx), bool)
        is_first[first] = True
        for pos in np.flatnonzero(~is_first):
            f = int(first[np.searchsorted(uniq, all_idx[pos])])
            here = self._dense_row(*_locate(offsets, int(pos)))
            there = self._dense_row(*_locate(offsets, f))
            if not np.array_equal(here, there):
                raise MetricInputError(
                    f"sample index {int(all_idx[pos])} was given twice with different targets; "
                    "indices must identify dataset samples"
                )
        n, c = len(uniq), self.num_classes
        if not self.sparse:
            logits = np.empty((n, c), np.float32)
            targets = np.empty((n, c), np.int8)
            for (idx, (s, t)), o in zip(self._batches, offsets, strict=False):
                keep = is_first[o : o + len(idx)]
                dest = np.searchsorted(uniq, idx[keep])
                logits[dest], targets[dest] = s[keep], t[keep]
            return uniq, logits, targets
        parts = []
        for (idx, (rows, cols, vals, labs)), o in zip(self._batches, offsets, strict=False):
            keep = is_first[o + rows]
            parts.append(
                (np.searchsorted(uniq, idx[rows[keep]]), cols[keep], vals[keep], labs[keep])
            )
        rows, cols, vals, labs = (np.concatenate(p) for p in zip(*parts, strict=True))
        scores = SparseScores(rows, cols, vals, (n, c))
        csr = []
        for sel in (labs == 1, labs == 0):
            order = np.argsort(rows[sel], kind="stable")
            ptr = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(rows[sel], minlength=n), out=ptr[1:])
            csr += [ptr, cols[sel][order]]
        names = self.class_names if self.class_names is not None else c
        labels = LabelSet.from_csr(*csr, classes=names, ids=[str(i) for i in uniq])
        return uniq, scores, labels

    def compute(self, **evaluate_kwargs: Any) -> EvalResult:
        """:func:`palt.metrics.evaluate` on the de-duplicated samples (same keyword arguments)."""
        _, scores, targets = self.collect()
        evaluate_kwargs.setdefault("class_names", self.class_names)
        return evaluate(scores, targets, **evaluate_kwargs)


def _locate(offsets: np.ndarray, pos: int) -> tuple[int, int]:
    """(batch, row in batch) of a position in the concatenated batches."""
    b = int(np.searchsorted(offsets, pos, side="right") - 1)
    return b, pos - int(offsets[b])
