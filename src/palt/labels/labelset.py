"""``LabelSet``: N samples × C classes of multi-label annotations in the canonical states.

States: ``1`` annotated positive, ``0`` annotated negative, ``-1`` unknown (never annotated).

Two storages behind one API:

* **dense** — an ``int8`` N×C matrix;
* **sparse** — per-sample CSR lists of positive classes and of explicitly negative classes, plus
  a rule for every entry that is in neither list: ``unlisted="unknown"`` (OpenImages: only verified
  labels are known) or ``unlisted="negative"`` (the "assume negative" files of COCO-style lists).

Statistics, subsetting and I/O of a sparse set never build the N×C matrix. Only ``to_dense`` and
``rows`` (a batch of rows) materialise dense values.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from palt._io import atomic_path, read_json

POSITIVE, NEGATIVE, UNKNOWN = 1, 0, -1
Unlisted = Literal["unknown", "negative"]
_FORMAT = "palt.labelset"
_DENSE_LIMIT = 2_000_000_000  # entries; beyond this ``to_dense`` refuses (about 2 GB of int8)


class LabelError(ValueError):
    """Labels that do not satisfy the canonical format; the message says what and where."""


def _as_names(values: Sequence[str] | None, n: int, what: str, prefix: str) -> tuple[str, ...]:
    if values is None:
        return tuple(f"{prefix}{i}" for i in range(n))
    names = tuple(str(v) for v in values)
    if len(names) != n:
        raise LabelError(f"{what}: got {len(names)} names for {n} {what.split()[0]}")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise LabelError(f"{what}: duplicate name {name!r} at positions {seen[name]} and {i}")
        seen[name] = i
    return names


def _check_csr(indptr: np.ndarray, indices: np.ndarray, n: int, c: int, what: str) -> None:
    if indptr.ndim != 1 or len(indptr) != n + 1:
        raise LabelError(
            f"{what}: indptr must have length n_samples + 1 = {n + 1}, got {indptr.shape}"
        )
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(indices):
        raise LabelError(f"{what}: indptr must start at 0, never decrease and end at len(indices)")
    if len(indices) and (indices.min() < 0 or indices.max() >= c):
        bad = int(np.flatnonzero((indices < 0) | (indices >= c))[0])
        row = int(np.searchsorted(indptr, bad, side="right") - 1)
        raise LabelError(
            f"{what}: class index {int(indices[bad])} in row {row} is out of range [0, {c})"
        )


def _csr_from_lists(lists: Sequence[Sequence[int]], c: int, what: str) -> tuple[np.ndarray, ...]:
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.fromiter(
        (int(j) for row in lists for j in row), dtype=np.int64, count=int(indptr[-1])
    )
    _check_csr(indptr, indices, len(lists), c, what)
    return indptr, indices.astype(np.int32)


def _sorted_unique_rows(indptr: np.ndarray, indices: np.ndarray, what: str) -> np.ndarray:
    """Sort class indices inside every row; reject a class listed twice in one row."""
    n = len(indptr) - 1
    row_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    order = np.lexsort((indices, row_of))
    out = indices[order]
    dup = (row_of[order][1:] == row_of[order][:-1]) & (out[1:] == out[:-1])
    if np.any(dup):
        k = int(np.flatnonzero(dup)[0])
        raise LabelError(f"{what}: class {int(out[k])} listed twice in row {int(row_of[order][k])}")
    return out


class LabelSet:
    """Multi-label annotations with states 1 / 0 / −1, class names and sample ids.

    Build one with :meth:`from_dense`, :meth:`from_lists` or :meth:`from_csr`; never call the
    constructor directly.
    """

    __slots__ = ("classes", "ids", "_dense", "_csr", "unlisted", "_csc")

    def __init__(
        self,
        classes: tuple[str, ...],
        ids: tuple[str, ...],
        dense: np.ndarray | None,
        csr: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
        unlisted: Unlisted,
    ) -> None:
        self.classes = classes
        self.ids = ids
        self._dense = dense
        self._csr = csr
        self.unlisted: Unlisted = unlisted
        self._csc: tuple[np.ndarray, ...] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dense(
        cls,
        matrix: np.ndarray | Sequence[Sequence[int]],
        classes: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> LabelSet:
        """Dense N×C labels whose values are all in {1, 0, −1}."""
        arr = np.asarray(matrix)
        if arr.ndim != 2:
            raise LabelError(f"labels must be a 2-D N×C matrix, got shape {arr.shape}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise LabelError("labels contain NaN or inf; expected values in {1, 0, -1}")
        bad = ~np.isin(arr, (POSITIVE, NEGATIVE, UNKNOWN))
        if np.any(bad):
            r, c = (int(x) for x in np.argwhere(bad)[0])
            raise LabelError(
                f"label value {arr[r, c]!r} at row {r}, column {c} is not one of 1, 0, -1 "
                "(use palt.labels.encodings to convert other encodings)"
            )
        n, c = arr.shape
        return cls(
            _as_names(classes, c, "classes", "class_"),
            _as_names(ids, n, "ids of samples", ""),
            np.ascontiguousarray(arr, dtype=np.int8),
            None,
            "unknown",
        )

    @classmethod
    def from_lists(
        cls,
        positives: Sequence[Sequence[int]],
        negatives: Sequence[Sequence[int]] | None = None,
        *,
        classes: Sequence[str] | int,
        ids: Sequence[str] | None = None,
        unlisted: Unlisted = "unknown",
    ) -> LabelSet:
        """Sparse labels from per-sample lists of positive (and negative) class indices."""
        names = _class_names(classes)
        c = len(names)
        pos = _csr_from_lists(positives, c, "positives")
        neg_lists = negatives if negatives is not None else [[] for _ in positives]
        if len(neg_lists) != len(positives):
            raise LabelError(
                f"negatives has {len(neg_lists)} rows but positives has {len(positives)}"
            )
        neg = _csr_from_lists(neg_lists, c, "negatives")
        return cls.from_csr(*pos, *neg, classes=names, ids=ids, unlisted=unlisted)

    @classmethod
    def from_csr(
        cls,
        pos_indptr: np.ndarray,
        pos_indices: np.ndarray,
        neg_indptr: np.ndarray,
        neg_indices: np.ndarray,
        *,
        classes: Sequence[str] | int,
        ids: Sequence[str] | None = None,
        unlisted: Unlisted = "unknown",
    ) -> LabelSet:
        """Sparse labels from CSR arrays (validated; class indices sorted per row)."""
        if unlisted not in ("unknown", "negative"):
            raise LabelError(f"unlisted must be 'unknown' or 'negative', got {unlisted!r}")
        names = _class_names(classes)
        c = len(names)
        pi, px = np.asarray(pos_indptr, np.int64), np.asarray(pos_indices, np.int64)
        ni, nx = np.asarray(neg_indptr, np.int64), np.asarray(neg_indices, np.int64)
        n = len(pi) - 1
        _check_csr(pi, px, n, c, "positives")
        _check_csr(ni, nx, n, c, "negatives")
        px = _sorted_unique_rows(pi, px, "positives")
        nx = _sorted_unique_rows(ni, nx, "negatives")
        both = np.intersect1d(
            np.repeat(np.arange(n), np.diff(pi)) * c + px,
            np.repeat(np.arange(n), np.diff(ni)) * c + nx,
        )
        if len(both):
            r, k = divmod(int(both[0]), c)
            raise LabelError(
                f"row {r}: class {k} ({names[k]!r}) is listed as positive and negative"
            )
        return cls(
            names,
            _as_names(ids, n, "ids of samples", ""),
            None,
            (pi, px.astype(np.int32), ni, nx.astype(np.int32)),
            unlisted,
        )

    # ------------------------------------------------------------------ shape and views
    @property
    def n_samples(self) -> int:
        return len(self.ids)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_samples, self.n_classes)

    @property
    def is_sparse(self) -> bool:
        return self._dense is None

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        kind = f"sparse, unlisted={self.unlisted}" if self.is_sparse else "dense"
        return f"LabelSet({self.n_samples} samples × {self.n_classes} classes, {kind})"

    def __eq__(self, other: object) -> bool:
        """Equal when classes, ids and the state of every entry agree (storage may differ)."""
        if not isinstance(other, LabelSet):
            return NotImplemented
        if (self.classes, self.ids) != (other.classes, other.ids):
            return False
        mine, theirs = self.csr_arrays(), other.csr_arrays()
        if not all(np.array_equal(a, b) for a, b in zip(mine[:2], theirs[:2], strict=True)):
            return False
        if self._implies_negatives() or other._implies_negatives():
            return not np.any(self.unknown_counts()) and not np.any(other.unknown_counts())
        return all(np.array_equal(a, b) for a, b in zip(mine[2:], theirs[2:], strict=True))

    def _implies_negatives(self) -> bool:
        return self.is_sparse and self.unlisted == "negative"

    def to_dense(self) -> np.ndarray:
        """The N×C ``int8`` matrix (a copy). Refuses sets larger than about 2·10⁹ entries."""
        if self._dense is not None:
            return self._dense.copy()
        n, c = self.shape
        if n * c > _DENSE_LIMIT:
            raise LabelError(f"refusing to densify {n}×{c} labels; use the sparse statistics")
        return self.rows(np.arange(n))

    def rows(self, index: np.ndarray | Sequence[int]) -> np.ndarray:
        """Dense ``int8`` rows for the given sample indices (a batch), shape len(index)×C."""
        idx = np.asarray(index, dtype=np.int64)
        if self._dense is not None:
            return self._dense[idx]
        pi, px, ni, nx = self._csr  # type: ignore[misc]
        fill = UNKNOWN if self.unlisted == "unknown" else NEGATIVE
        out = np.full((len(idx), self.n_classes), fill, dtype=np.int8)
        for k, r in enumerate(idx):
            out[k, nx[ni[r] : ni[r + 1]]] = NEGATIVE
            out[k, px[pi[r] : pi[r + 1]]] = POSITIVE
        return out

    def csr_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(pos_indptr, pos_indices, neg_indptr, neg_indices) listing every annotated entry.

        For a dense set, every 0 is an explicit negative. For a sparse set with
        ``unlisted="negative"`` only the explicitly listed negatives appear; use
        :meth:`column_entries` for per-class annotated rows under either rule.
        """
        if self._csr is not None:
            return self._csr
        d = self._dense
        pos_r, pos_c = np.nonzero(d == POSITIVE)
        neg_r, neg_c = np.nonzero(d == NEGATIVE)
        n = self.n_samples
        pi = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(pos_r, minlength=n), out=pi[1:])
        ni = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(neg_r, minlength=n), out=ni[1:])
        return pi, pos_c.astype(np.int32), ni, neg_c.astype(np.int32)

    def positives_of(self, row: int) -> np.ndarray:
        """Class indices annotated positive in one sample."""
        if self._dense is not None:
            return np.flatnonzero(self._dense[row] == POSITIVE)
        pi, px, _, _ = self._csr  # type: ignore[misc]
        return px[pi[row] : pi[row + 1]].astype(np.int64)

    def column_entries(self, c: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows annotated positive and rows annotated negative for class ``c``.

        The second item is ``None`` when every row that is not positive is negative
        (a sparse set with ``unlisted="negative"``), so callers need not list them.
        """
        pos_ptr, pos_rows, neg_ptr, neg_rows = self._columns()
        pos = pos_rows[pos_ptr[c] : pos_ptr[c + 1]]
        if self.is_sparse and self.unlisted == "negative":
            return pos, None
        return pos, neg_rows[neg_ptr[c] : neg_ptr[c + 1]]

    def _columns(self) -> tuple[np.ndarray, ...]:
        if self._csc is None:
            pi, px, ni, nx = self.csr_arrays()
            self._csc = (*_transpose(pi, px, self.n_classes), *_transpose(ni, nx, self.n_classes))
        return self._csc

    # ------------------------------------------------------------------ statistics
    def positive_counts(self) -> np.ndarray:
        """Number of annotated positives per class (``int64``, length C)."""
        if self._dense is not None:
            return (self._dense == POSITIVE).sum(0, dtype=np.int64)
        return np.bincount(self._csr[1], minlength=self.n_classes).astype(np.int64)  # type: ignore[index]

    def negative_counts(self) -> np.ndarray:
        """Number of annotated (or, with ``unlisted="negative"``, implied) negatives per class."""
        if self._dense is not None:
            return (self._dense == NEGATIVE).sum(0, dtype=np.int64)
        if self.unlisted == "negative":
            return self.n_samples - self.positive_counts()
        return np.bincount(self._csr[3], minlength=self.n_classes).astype(np.int64)  # type: ignore[index]

    def unknown_counts(self) -> np.ndarray:
        """Number of unknown entries per class."""
        return self.n_samples - self.positive_counts() - self.negative_counts()

    def cardinality(self) -> float:
        """Mean number of annotated positives per sample."""
        return float(self.positive_counts().sum() / max(self.n_samples, 1))

    def annotated_fraction(self) -> float:
        """Fraction of the N×C entries that are annotated (positive or negative)."""
        total = self.n_samples * self.n_classes
        return float((self.positive_counts() + self.negative_counts()).sum() / max(total, 1))

    def positive_csr(self) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, indices) of the positive entries only (cheaper than :meth:`csr_arrays`)."""
        if self._csr is not None:
            return self._csr[0], self._csr[1]
        rows, cols = np.nonzero(self._dense == POSITIVE)
        indptr = np.zeros(self.n_samples + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n_samples), out=indptr[1:])
        return indptr, cols.astype(np.int32)

    def cooccurrence(self, sparse: bool = False) -> Any:
        """C×C counts O[i, j] = #samples positive for both i and j (diagonal = n_i).

        Dense ``int64`` array by default; ``sparse=True`` gives a ``scipy.sparse`` CSR matrix
        (a dense one is 800 MB at C = 10,000).
        """
        import scipy.sparse as sp

        indptr, indices = self.positive_csr()
        y = sp.csr_matrix(
            (np.ones(len(indices), np.int64), indices, indptr), shape=self.shape, dtype=np.int64
        )
        o = (y.T @ y).tocsr()
        return o if sparse else np.asarray(o.todense(), dtype=np.int64)

    def conditional_cooccurrence(self) -> np.ndarray:
        """C×C matrix P[i, j] = P(j positive | i positive) = O[i, j] / O[i, i] (0 where n_i = 0)."""
        o = self.cooccurrence().astype(np.float64)
        diag = np.diag(o).copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(diag[:, None] > 0, o / np.where(diag > 0, diag, 1)[:, None], 0.0)
        return p

    # ------------------------------------------------------------------ subsets and joins
    def subset(self, rows: np.ndarray | Sequence[int]) -> LabelSet:
        """The samples at ``rows`` (in that order), same classes."""
        idx = np.asarray(rows, dtype=np.int64)
        if len(idx) and (idx.min() < -self.n_samples or idx.max() >= self.n_samples):
            raise LabelError(f"row index out of range for {self.n_samples} samples")
        idx = np.where(idx < 0, idx + self.n_samples, idx)
        ids = tuple(self.ids[i] for i in idx)
        if self._dense is not None:
            return LabelSet(self.classes, ids, self._dense[idx], None, "unknown")
        pi, px, ni, nx = self._csr  # type: ignore[misc]
        return LabelSet(
            self.classes,
            ids,
            None,
            (*_take_rows(pi, px, idx), *_take_rows(ni, nx, idx)),
            self.unlisted,
        )

    def select_classes(self, classes: Sequence[int] | Sequence[str]) -> LabelSet:
        """Keep only the given classes (indices or names), in the given order."""
        cols = [self._class_index(c) for c in classes]
        names = tuple(self.classes[c] for c in cols)
        if len(set(cols)) != len(cols):
            raise LabelError("select_classes: a class is selected twice")
        if self._dense is not None:
            return LabelSet(names, self.ids, self._dense[:, cols].copy(), None, "unknown")
        remap = np.full(self.n_classes, -1, np.int64)
        remap[cols] = np.arange(len(cols))
        pi, px, ni, nx = self._csr  # type: ignore[misc]
        return LabelSet(
            names, self.ids, None, (*_remap(pi, px, remap), *_remap(ni, nx, remap)), self.unlisted
        )

    def _class_index(self, c: int | str) -> int:
        if isinstance(c, str):
            try:
                return self.classes.index(c)
            except ValueError:
                raise LabelError(f"unknown class name {c!r}") from None
        if not 0 <= int(c) < self.n_classes:
            raise LabelError(f"class index {c} out of range [0, {self.n_classes})")
        return int(c)

    @staticmethod
    def concatenate(parts: Sequence[LabelSet]) -> LabelSet:
        """Stack label sets with identical classes row-wise (dense if all parts are dense)."""
        if not parts:
            raise LabelError("concatenate needs at least one LabelSet")
        classes = parts[0].classes
        for k, p in enumerate(parts[1:], 1):
            if p.classes != classes:
                raise LabelError(f"concatenate: part {k} has different classes than part 0")
        ids = tuple(i for p in parts for i in p.ids)
        if all(not p.is_sparse for p in parts):
            dense = np.concatenate([p._dense for p in parts], axis=0)  # type: ignore[misc]
            return LabelSet.from_dense(dense, classes, ids)
        rules = {p.unlisted for p in parts if p.is_sparse}
        if len(rules) > 1 or (rules == {"negative"} and any(not p.is_sparse for p in parts)):
            raise LabelError("concatenate: parts disagree on the rule for unlisted entries")
        arrays = [p.csr_arrays() for p in parts]
        pi, px = _stack([a[0] for a in arrays], [a[1] for a in arrays])
        ni, nx = _stack([a[2] for a in arrays], [a[3] for a in arrays])
        return LabelSet.from_csr(pi, px, ni, nx, classes=classes, ids=ids, unlisted=rules.pop())

    def to_sparse(self, unlisted: Unlisted = "unknown") -> LabelSet:
        """The same labels in sparse storage (lossless for either rule)."""
        pi, px, ni, nx = self.csr_arrays()
        if unlisted == "negative":
            if np.any(self.unknown_counts()):
                raise LabelError("cannot store unknown entries with unlisted='negative'")
            ni, nx = np.zeros(self.n_samples + 1, np.int64), np.zeros(0, np.int32)
        elif self.is_sparse and self.unlisted == "negative":
            return self.to_dense_set().to_sparse("unknown")
        return LabelSet(self.classes, self.ids, None, (pi, px, ni, nx), unlisted)

    def to_dense_set(self) -> LabelSet:
        """The same labels in dense storage."""
        return LabelSet(self.classes, self.ids, self.to_dense(), None, "unknown")

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``<path>.npz`` (arrays) and ``<path>.json`` (names, storage); never pickle."""
        stem = _stem(path)
        meta = {
            "format": _FORMAT,
            "version": 1,
            "storage": "sparse" if self.is_sparse else "dense",
            "unlisted": self.unlisted,
            "n_samples": self.n_samples,
            "n_classes": self.n_classes,
            "classes": list(self.classes),
            "ids": list(self.ids),
        }
        if self._dense is not None:
            arrays = {"dense": self._dense}
        else:
            pi, px, ni, nx = self._csr  # type: ignore[misc]
            arrays = {"pos_indptr": pi, "pos_indices": px, "neg_indptr": ni, "neg_indices": nx}
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        with atomic_path(stem.with_suffix(".npz")) as tmp:
            tmp.write_bytes(buf.getvalue())
        with atomic_path(stem.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LabelSet:
        """Read a set written by :meth:`save` (``allow_pickle=False``; every field validated)."""
        stem = _stem(path)
        meta_path, npz_path = stem.with_suffix(".json"), stem.with_suffix(".npz")
        meta = read_json(meta_path)
        for key in ("format", "storage", "classes", "ids"):
            if not isinstance(meta, dict) or key not in meta:
                raise LabelError(f"{meta_path}: missing key {key!r}")
        if meta["format"] != _FORMAT:
            raise LabelError(f"{meta_path}: 'format' is {meta['format']!r}, expected {_FORMAT!r}")
        if not npz_path.is_file():
            raise FileNotFoundError(f"{npz_path}: file not found")
        try:
            with np.load(npz_path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except ValueError as err:
            raise LabelError(f"{npz_path}: cannot read arrays ({err})") from None
        try:
            if meta["storage"] == "dense":
                return cls.from_dense(arrays["dense"], meta["classes"], meta["ids"])
            if meta["storage"] == "sparse":
                return cls.from_csr(
                    arrays["pos_indptr"],
                    arrays["pos_indices"],
                    arrays["neg_indptr"],
                    arrays["neg_indices"],
                    classes=meta["classes"],
                    ids=meta["ids"],
                    unlisted=meta.get("unlisted", "unknown"),
                )
        except KeyError as err:
            raise LabelError(f"{npz_path}: missing array {err}") from None
        except LabelError as err:
            raise LabelError(f"{stem}: {err}") from None
        raise LabelError(
            f"{meta_path}: 'storage' must be 'dense' or 'sparse', got {meta['storage']!r}"
        )


# ---------------------------------------------------------------------- CSR helpers
def _class_names(classes: Sequence[str] | int) -> tuple[str, ...]:
    if isinstance(classes, int):
        return _as_names(None, classes, "classes", "class_")
    return _as_names(classes, len(classes), "classes", "class_")


def _stem(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".npz", ".json") else p


def _transpose(indptr: np.ndarray, indices: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR (rows → classes) to CSC (classes → rows, rows ascending within a class)."""
    rows = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    # A stable sort of uint16 keys is a radix sort in NumPy: several times faster at 10⁶ entries.
    keys = indices.astype(np.uint16) if c <= np.iinfo(np.uint16).max else indices
    order = np.argsort(keys, kind="stable")
    colptr = np.zeros(c + 1, np.int64)
    np.cumsum(np.bincount(indices, minlength=c), out=colptr[1:])
    return colptr, rows[order]


def _take_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    lengths = np.diff(indptr)[rows]
    new_ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    starts = np.repeat(indptr[rows] - new_ptr[:-1], lengths)
    gather = np.arange(new_ptr[-1], dtype=np.int64) + starts
    return new_ptr, indices[gather]


def _remap(indptr: np.ndarray, indices: np.ndarray, remap: np.ndarray) -> tuple[np.ndarray, ...]:
    new = remap[indices]
    keep = new >= 0
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))[keep]
    ptr = np.zeros(len(indptr), np.int64)
    np.cumsum(np.bincount(rows, minlength=len(indptr) - 1), out=ptr[1:])
    kept = new[keep]
    order = np.lexsort((kept, rows))
    return ptr, kept[order].astype(np.int32)


def _stack(ptrs: list[np.ndarray], idxs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0] + [p[-1] for p in ptrs[:-1]])
    ptr = np.concatenate([[0]] + [p[1:] + o for p, o in zip(ptrs, offsets, strict=True)])
    return ptr.astype(np.int64), np.concatenate(idxs).astype(np.int32)
