"""Converters between the canonical states (1 / 0 / −1) and the encodings in circulation.

| encoding | positive | negative | unknown | used by |
|---|---|---|---|---|
| canonical (CSL, torchmetrics ``ignore_index=-1``) | 1 | 0 | −1 | palt |
| single-positive / Large-Loss-Matters "observed" | +1 | −1 | 0 | Cole et al. 2021, Kim et al. 2022 |
| VOC ``ImageSets/Main/<class>_<split>.txt`` | 1 | −1 | 0 = difficult only | PASCAL VOC |
| assume-negative | 1 | 0 (missing positives too) | — | COMIC, robust-loss-mlml |

Ambiguous input is rejected: every converter checks that the values belong to its encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from palt.labels.labelset import NEGATIVE, POSITIVE, UNKNOWN, LabelError, LabelSet

DifficultPolicy = Literal["positive", "negative", "ignore"]


def _check_values(matrix: np.ndarray, allowed: tuple[int, ...], encoding: str) -> np.ndarray:
    arr = np.asarray(matrix)
    if arr.ndim != 2:
        raise LabelError(f"{encoding} labels must be a 2-D N×C matrix, got shape {arr.shape}")
    bad = ~np.isin(arr, allowed)
    if np.any(bad):
        r, c = (int(x) for x in np.argwhere(bad)[0])
        raise LabelError(
            f"{encoding} labels: value {arr[r, c]!r} at row {r}, column {c}; expected one of {allowed}"
        )
    return arr


def from_single_positive(
    matrix: np.ndarray, classes: Sequence[str] | None = None, ids: Sequence[str] | None = None
) -> LabelSet:
    """Single-positive encoding (+1 positive, −1 negative, 0 unobserved) → canonical."""
    arr = _check_values(matrix, (1, -1, 0), "single-positive")
    out = np.where(arr == 1, POSITIVE, np.where(arr == -1, NEGATIVE, UNKNOWN))
    return LabelSet.from_dense(out, classes, ids)


def to_single_positive(labels: LabelSet) -> np.ndarray:
    """Canonical → single-positive (+1 / −1 / 0) as an ``int8`` matrix."""
    d = labels.to_dense()
    return np.where(d == POSITIVE, 1, np.where(d == NEGATIVE, -1, 0)).astype(np.int8)


def from_voc(
    matrix: np.ndarray,
    difficult: DifficultPolicy = "ignore",
    classes: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
) -> LabelSet:
    """VOC ``<class>_<split>.txt`` flags (1 present, −1 absent, 0 difficult only) → canonical.

    ``difficult`` decides the state of a difficult-only class: ``"ignore"`` → unknown (mmpretrain,
    WILDCAT), ``"negative"`` → 0 (flag-1-only labels: Large-Loss-Matters, COMIC), ``"positive"``
    → 1 (every object counts: the DB-loss ``terse_gt`` labels behind VOC-MLT).
    """
    arr = _check_values(matrix, (1, -1, 0), "VOC")
    fill = {"positive": POSITIVE, "negative": NEGATIVE, "ignore": UNKNOWN}
    if difficult not in fill:
        raise LabelError(f"difficult must be one of {sorted(fill)}, got {difficult!r}")
    out = np.where(arr == 1, POSITIVE, np.where(arr == -1, NEGATIVE, fill[difficult]))
    return LabelSet.from_dense(out, classes, ids)


def to_voc(labels: LabelSet) -> np.ndarray:
    """Canonical → VOC flags; unknown entries become 0 (the VOC "difficult" flag)."""
    return to_single_positive(labels)


def from_assume_negative(
    matrix: np.ndarray, classes: Sequence[str] | None = None, ids: Sequence[str] | None = None
) -> LabelSet:
    """0/1 multi-hot labels (every 0 is an assumed negative) → canonical."""
    arr = _check_values(matrix, (0, 1), "assume-negative")
    return LabelSet.from_dense(arr.astype(np.int8), classes, ids)


def to_assume_negative(labels: LabelSet) -> np.ndarray:
    """Canonical → 0/1 multi-hot; unknown entries become 0 (assumed negative)."""
    return (labels.to_dense() == POSITIVE).astype(np.int8)


def from_name_lists(
    positives: Sequence[Sequence[str]],
    negatives: Sequence[Sequence[str]] | None = None,
    *,
    classes: Sequence[str],
    ids: Sequence[str] | None = None,
    unlisted: Literal["unknown", "negative"] = "unknown",
) -> LabelSet:
    """Per-sample lists of positive (and negative) class *names* → sparse canonical labels."""
    index = {name: k for k, name in enumerate(classes)}
    if len(index) != len(classes):
        raise LabelError("classes: duplicate class names")

    def to_idx(lists: Sequence[Sequence[str]], what: str) -> list[list[int]]:
        out = []
        for r, names in enumerate(lists):
            row = []
            for name in names:
                if name not in index:
                    raise LabelError(f"{what} of row {r}: unknown class name {name!r}")
                row.append(index[name])
            out.append(row)
        return out

    neg = to_idx(negatives, "negatives") if negatives is not None else None
    return LabelSet.from_lists(
        to_idx(positives, "positives"), neg, classes=classes, ids=ids, unlisted=unlisted
    )


def to_name_lists(labels: LabelSet) -> tuple[list[list[str]], list[list[str]]]:
    """Canonical → (positive names, negative names) per sample (explicit negatives only)."""
    pi, px, ni, nx = labels.csr_arrays()
    names = labels.classes
    pos = [[names[j] for j in px[pi[r] : pi[r + 1]]] for r in range(labels.n_samples)]
    neg = [[names[j] for j in nx[ni[r] : ni[r + 1]]] for r in range(labels.n_samples)]
    return pos, neg
