"""Per-class views of (scores, targets): the annotated entries of one class at a time.

Every metric here is computed class by class from the annotated entries only (unknowns are
dropped per class, as in CSL's ``AP_partial``). :func:`read_inputs` accepts

* dense scores (N×C array or tensor) with dense targets (N×C in {1, 0, −1}, array, tensor or a
  dense :class:`~palt.labels.LabelSet`);
* dense scores with a sparse ``LabelSet`` (only annotated entries are read);
* :class:`~palt.metrics.SparseScores` with a sparse ``LabelSet`` whose unlisted entries are
  unknown — the path that never allocates N×C.

Dense inputs are read in blocks of classes (transposed to contiguous columns), so the extra
memory is a bounded block, not a copy of the matrix.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from palt.labels import LabelSet
from palt.metrics._arrays import (
    MetricInputError,
    as_scores,
    as_targets,
    check_finite,
    check_states,
)
from palt.metrics.sparse_scores import SparseScores

BLOCK_ENTRIES = 1 << 20  # entries per class block of a dense input (4 MB of fp32 scores)
LABEL_BLOCK = 512  # classes per block of a sparse input


@dataclass(frozen=True)
class Column:
    """The annotated entries of one class, in sample order."""

    index: int
    rows: np.ndarray | None  # sample of each entry; None: every sample, in order
    values: np.ndarray  # scores
    is_pos: np.ndarray  # bool
    n_unknown: int

    @property
    def n_pos(self) -> int:
        return int(np.count_nonzero(self.is_pos))

    @property
    def n_neg(self) -> int:
        return len(self.values) - self.n_pos


class Inputs:
    """Scores and targets checked for shape, ready to be read one class at a time."""

    def __init__(
        self,
        scores: np.ndarray | SparseScores,
        dense_targets: np.ndarray | None,
        labels: LabelSet | None,
        class_names: tuple[str, ...] | None,
    ) -> None:
        self.scores = scores
        self.dense_targets = dense_targets
        self.labels = labels
        self.class_names = class_names
        self.n_samples, self.n_classes = scores.shape

    @property
    def dtype(self) -> np.dtype:
        """Score dtype (fp32 or fp64)."""
        if isinstance(self.scores, SparseScores):
            return self.scores.values.dtype
        return self.scores.dtype

    def n_annotated(self) -> int:
        """Number of annotated entries over all classes."""
        if self.labels is not None:
            return int(self.labels.positive_counts().sum() + self.labels.negative_counts().sum())
        t = self.dense_targets
        assert t is not None
        step = max(1, BLOCK_ENTRIES // max(self.n_classes, 1))
        return sum(int(np.count_nonzero(t[r : r + step] >= 0)) for r in range(0, len(t), step))

    def name(self, c: int) -> str | int:
        return self.class_names[c] if self.class_names is not None else c

    def blocks(self) -> Iterator[list[Column]]:
        """Every class in order, a block of classes at a time."""
        if self.dense_targets is not None:
            yield from self._dense_blocks()
        else:
            yield from self._label_blocks()

    def _dense_blocks(self) -> Iterator[list[Column]]:
        scores, targets = self.scores, self.dense_targets
        assert isinstance(scores, np.ndarray) and targets is not None
        n, c_total = self.n_samples, self.n_classes
        width = max(1, min(c_total, BLOCK_ENTRIES // max(n, 1)))
        for c0 in range(0, c_total, width):
            c1 = min(c0 + width, c_total)
            s_blk, t_blk = _transposed(scores, c0, c1), _transposed(targets, c0, c1)

            def locate(k: int, b: int = s_blk.shape[1], c0: int = c0) -> str:
                return f"row {k % b}, class {c0 + k // b}"

            check_finite(s_blk, "scores", locate)
            check_states(t_blk, "targets", locate)
            if t_blk.size and t_blk.min() < 0:
                n_unknown = np.count_nonzero(t_blk < 0, axis=1)
            else:
                n_unknown = np.zeros(len(t_blk), np.int64)
            block = []
            for j in range(s_blk.shape[0]):
                s, t = s_blk[j], t_blk[j]
                if n_unknown[j] == 0:
                    block.append(Column(c0 + j, None, s, t == 1, 0))
                else:
                    rows = np.flatnonzero(t >= 0)
                    block.append(Column(c0 + j, rows, s[rows], t[rows] == 1, int(n_unknown[j])))
            yield block

    def _label_blocks(self) -> Iterator[list[Column]]:
        for c0 in range(0, self.n_classes, LABEL_BLOCK):
            yield [self._label_column(c) for c in range(c0, min(c0 + LABEL_BLOCK, self.n_classes))]

    def _label_column(self, c: int) -> Column:
        labels = self.labels
        assert labels is not None
        pos, neg = labels.column_entries(c)
        assert neg is not None  # unlisted="negative" sets are read densely
        rows = np.concatenate([pos, neg]).astype(np.int64)
        order = np.argsort(rows, kind="stable")
        rows, is_pos = rows[order], order < len(pos)
        if isinstance(self.scores, SparseScores):
            values = self.scores.lookup(c, rows, str(self.name(c)))
        else:
            values = self.scores[rows, c]
            check_finite(values, "scores", lambda k, rows=rows, c=c: f"row {rows[k]}, class {c}")
        return Column(c, rows, values, is_pos, self.n_samples - len(rows))

    def row_kth_largest(self, k: int) -> np.ndarray:
        """Per sample, the k-th largest score over its classes (top-k prediction threshold)."""
        if not 1 <= k <= self.n_classes:
            raise ValueError(f"top_k must be in [1, {self.n_classes}], got {k}")
        if isinstance(self.scores, SparseScores):
            return self.scores.row_kth_largest(k)
        out = np.empty(self.n_samples, dtype=self.scores.dtype)
        step = max(1, BLOCK_ENTRIES // self.n_classes)
        for r0 in range(0, self.n_samples, step):
            blk = self.scores[r0 : r0 + step]
            out[r0 : r0 + step] = np.partition(blk, self.n_classes - k, axis=1)[:, -k]
        return out


def _transposed(a: np.ndarray, c0: int, c1: int, tile: int = 256) -> np.ndarray:
    """Columns c0:c1 of ``a`` as contiguous rows, copied in row tiles (cache-friendly)."""
    n = a.shape[0]
    out = np.empty((c1 - c0, n), dtype=a.dtype)
    for r in range(0, n, tile):
        out[:, r : r + tile] = a[r : r + tile, c0:c1].T
    return out


def read_inputs(scores: Any, targets: Any, class_names: Sequence[str] | None = None) -> Inputs:
    """Check and wrap (scores, targets); see the module docstring for the accepted pairs."""
    names = tuple(str(x) for x in class_names) if class_names is not None else None
    dense_targets: np.ndarray | None = None
    labels: LabelSet | None = None
    if isinstance(targets, LabelSet):
        if names is None:
            names = targets.classes
        if targets.is_sparse and targets.unlisted == "unknown":
            labels = targets
        elif isinstance(scores, SparseScores):
            raise MetricInputError(
                "SparseScores need labels whose unlisted entries are unknown; these labels "
                "annotate every entry, so pass dense N×C scores"
            )
        else:
            dense_targets = targets.to_dense()
        t_shape = targets.shape
    else:
        dense_targets = as_targets(targets)
        t_shape = dense_targets.shape
    if not isinstance(scores, SparseScores):
        scores = as_scores(scores)
    if tuple(scores.shape) != tuple(t_shape):
        raise MetricInputError(
            f"scores have shape {tuple(scores.shape)} but targets have shape {tuple(t_shape)}"
        )
    if isinstance(scores, SparseScores) and labels is None:
        raise MetricInputError(
            "SparseScores need the targets as a sparse LabelSet (unlisted='unknown'); "
            "with dense targets pass dense scores"
        )
    if names is not None and len(names) != t_shape[1]:
        raise MetricInputError(f"class_names has {len(names)} names for {t_shape[1]} classes")
    return Inputs(scores, dense_targets, labels, names)
