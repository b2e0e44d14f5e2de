"""``SparseScores``: scores given only at some (sample, class) entries.

For sparsely annotated test sets (OpenImages: a few verified labels per image among thousands of
classes) the N×C score matrix is neither needed nor affordable: AP over annotated entries only
reads the scores at annotated entries. Give them as COO triplets ``(row, class, score)``:

* ``rows[i]`` is the sample (row of the :class:`~palt.labels.LabelSet`), ``cols[i]`` the class
  index, ``values[i]`` the fp32 logit; the triplets may come in any order;
* every *annotated* entry of the labels must have a score (a missing one is an error naming the
  entry); scores at unknown entries are allowed and ignored by AP (top-k ranks every given score);
* a (row, class) pair may appear only once.

Internally the triplets are kept sorted class-major (by class, then row), so one class's
entries are a contiguous slice: memory is O(#triplets), never O(N·C).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from palt.metrics._arrays import MetricInputError, as_indices, as_scores, check_finite


class SparseScores:
    """Scores at selected entries of an N×C matrix (COO triplets, stored class-major)."""

    __slots__ = ("shape", "rows", "cols", "values", "_colptr")

    def __init__(self, rows: Any, cols: Any, values: Any, shape: tuple[int, int]) -> None:
        r = as_indices(rows, "SparseScores rows")
        c = as_indices(cols, "SparseScores cols")
        v = as_scores(values, "SparseScores values", ndim=1)
        n, n_classes = (int(x) for x in shape)
        if not (len(r) == len(c) == len(v)):
            raise MetricInputError(
                f"SparseScores: rows, cols and values must have one length, got "
                f"{len(r)}, {len(c)}, {len(v)}"
            )
        if len(r) and r.max() >= n:
            raise MetricInputError(f"SparseScores: row {int(r.max())} out of range [0, {n})")
        if len(c) and c.max() >= n_classes:
            raise MetricInputError(
                f"SparseScores: class {int(c.max())} out of range [0, {n_classes})"
            )
        check_finite(v, "SparseScores values", lambda k: f"row {r[k]}, class {c[k]}")
        key = c * n + r
        if len(key) > 1 and not np.all(key[1:] > key[:-1]):
            order = _class_major_order(r, c, key, n_classes)
            key, r, c, v = key[order], r[order], c[order], v[order]
            dup = np.flatnonzero(key[1:] == key[:-1])
            if len(dup):
                k = int(dup[0])
                raise MetricInputError(
                    f"SparseScores: entry (row {r[k]}, class {c[k]}) is given more than once"
                )
        self.shape = (n, n_classes)
        self.rows, self.cols, self.values = r, c, v
        self._colptr = np.zeros(n_classes + 1, np.int64)
        np.cumsum(np.bincount(c, minlength=n_classes), out=self._colptr[1:])

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"SparseScores({len(self)} entries of a {self.shape[0]}×{self.shape[1]} matrix)"

    def column(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows ascending, scores) given for class ``c``."""
        lo, hi = self._colptr[c], self._colptr[c + 1]
        return self.rows[lo:hi], self.values[lo:hi]

    def lookup(self, c: int, rows: np.ndarray, class_name: str) -> np.ndarray:
        """Scores of class ``c`` at ``rows`` (ascending); every row must have one."""
        have_rows, have = self.column(c)
        at = np.searchsorted(have_rows, rows)
        found = at < len(have_rows)
        found[found] = have_rows[at[found]] == rows[found]
        if not found.all():
            r = int(rows[np.flatnonzero(~found)[0]])
            raise MetricInputError(
                f"SparseScores: no score for the annotated entry (row {r}, class {c} "
                f"{class_name!r}); give a score at every annotated entry"
            )
        return have[at]

    def row_kth_largest(self, k: int) -> np.ndarray:
        """Per row, the k-th largest given score (−inf when the row has fewer than k)."""
        n = self.shape[0]
        order = np.lexsort((-self.values, self.rows))
        rows_sorted = self.rows[order]
        start = np.searchsorted(rows_sorted, np.arange(n), side="left")
        count = np.bincount(self.rows, minlength=n)
        out = np.full(n, -np.inf, dtype=self.values.dtype)
        has = count >= k
        out[has] = self.values[order[start[has] + k - 1]]
        return out


def _class_major_order(rows: np.ndarray, cols: np.ndarray, key: np.ndarray, c: int) -> np.ndarray:
    """Permutation sorting triplets by (class, row). Row-major input (what an inference loop
    writes) only needs a stable sort by class, which NumPy does as a radix sort on 16-bit keys."""
    if c <= 1 << 16 and np.all(rows[1:] >= rows[:-1]):
        return np.argsort(cols.astype(np.uint16), kind="stable")
    return np.argsort(key, kind="stable")
