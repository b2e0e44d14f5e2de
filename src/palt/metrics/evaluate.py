"""Functional metrics: per-class AP (:func:`average_precision`) and the full report
(:func:`evaluate`), both over annotated entries only.

Protocol (CSL's ``mAP_partial``, Ben-Baruch et al., CVPR 2022; the OpenImages rule that mAP covers
classes with ground truth in the test set): per class, drop the unknown entries, compute AP on the
rest; a class without an annotated positive or without an annotated negative has no AP (NaN) and
is left out of every mean, and the result lists it with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from palt.metrics.columns import Column, Inputs, read_inputs
from palt.metrics.precision import (
    Convention,
    check_convention,
    column_ap,
    positive_precisions,
)
from palt.metrics.result import EvalResult
from palt.metrics.thresholded import column_counts


def _ap_or_nan(col: Column, convention: Convention) -> float:
    n_pos = col.n_pos
    if n_pos == 0 or n_pos == len(col.values):
        return float("nan")
    return column_ap(col.values, col.is_pos, convention)


def average_precision(
    scores: Any,
    targets: Any,
    convention: Convention = "sklearn",
) -> np.ndarray:
    """Per-class AP over annotated entries: a (C,) ``float64`` array, NaN for excluded classes.

    ``scores``: N×C logits (array or tensor; fp32 recommended) or :class:`SparseScores`.
    ``targets``: N×C in {1, 0, −1} (array or tensor) or a :class:`~palt.labels.LabelSet`.
    ``convention``: ``"sklearn"`` (default), ``"asl"``, ``"voc"`` or ``"voc07"`` — see
    :mod:`palt.metrics.precision`.
    """
    check_convention(convention)
    inputs = read_inputs(scores, targets)
    out = np.full(inputs.n_classes, np.nan)
    for col in inputs.columns():
        out[col.index] = _ap_or_nan(col, convention)
    return out


def _group_indices(
    groups: Mapping[str, Sequence[int | str]] | None, inputs: Inputs
) -> dict[str, list[int]]:
    if not groups:
        return {}
    lookup = {n: i for i, n in enumerate(inputs.class_names or ())}
    out: dict[str, list[int]] = {}
    for g, members in groups.items():
        idx = []
        for m in members:
            if isinstance(m, str):
                if m not in lookup:
                    raise ValueError(f"groups[{g!r}]: unknown class name {m!r}")
                idx.append(lookup[m])
            else:
                c = int(m)
                if not 0 <= c < inputs.n_classes:
                    raise ValueError(
                        f"groups[{g!r}]: class index {c} out of range [0, {inputs.n_classes})"
                    )
                idx.append(c)
        out[str(g)] = sorted(set(idx))
    return out


def _micro_ap(values: np.ndarray, positives: np.ndarray) -> float:
    if len(positives) == 0 or len(positives) == len(values):
        return float("nan")
    values.sort()
    prec, _ = positive_precisions(values, np.sort(positives))
    return float(prec.mean())


def evaluate(
    scores: Any,
    targets: Any,
    groups: Mapping[str, Sequence[int | str]] | None = None,
    threshold: float = 0.0,
    top_k: int | None = None,
    convention: Convention = "sklearn",
    class_names: Sequence[str] | None = None,
) -> EvalResult:
    """AP per class, mAP (plain, positives-weighted, per group), micro AP and thresholded
    P/R/F1, all over annotated entries.

    ``groups``: name → class indices or names (e.g. head/medium/tail from
    :class:`palt.labels.GroupRule`); ``mAP_<name>`` averages the group's evaluated classes.
    ``threshold``: on logits (0 ⇔ p = 0.5), a prediction is positive when ``score ≥ threshold``;
    ignored when ``top_k`` is given (positive when ``score ≥`` the k-th largest of its sample).
    ``class_names`` default to the LabelSet's.
    """
    check_convention(convention)
    inputs = read_inputs(scores, targets, class_names)
    group_idx = _group_indices(groups, inputs)
    n_classes = inputs.n_classes
    row_cut = inputs.row_kth_largest(top_k) if top_k is not None else None
    ap = np.full(n_classes, np.nan)
    counts = np.zeros((6, n_classes), np.int64)  # n_pos, n_neg, n_unknown, tp, fp, fn
    pooled = np.empty(inputs.n_annotated(), dtype=inputs.dtype)
    pooled_pos: list[np.ndarray] = []
    filled = 0
    for col in inputs.columns():
        c = col.index
        ap[c] = _ap_or_nan(col, convention)
        if row_cut is None:
            cut: float | np.ndarray = threshold
        else:
            cut = row_cut if col.rows is None else row_cut[col.rows]
        n_pos = col.n_pos
        counts[:, c] = (
            n_pos,
            len(col.values) - n_pos,
            col.n_unknown,
            *column_counts(col.values, col.is_pos, cut),
        )
        pooled[filled : filled + len(col.values)] = col.values
        filled += len(col.values)
        pooled_pos.append(col.values[col.is_pos])
    positives = np.concatenate(pooled_pos) if pooled_pos else pooled[:0]
    settings: dict[str, object] = {
        "convention": convention,
        "threshold": None if top_k is not None else float(threshold),
        "top_k": top_k,
        "unknown": "excluded per class",
    }
    return EvalResult(
        ap=ap,
        n_pos=counts[0],
        n_neg=counts[1],
        n_unknown=counts[2],
        tp=counts[3],
        fp=counts[4],
        fn=counts[5],
        micro_ap=_micro_ap(pooled[:filled], positives),
        class_names=inputs.class_names,
        groups=group_idx,
        settings=settings,
    )
