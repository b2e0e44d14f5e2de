"""Functional metrics: per-class AP (:func:`average_precision`) and the full report
(:func:`evaluate`), both over annotated entries only.

Protocol (CSL's ``mAP_partial``, Ben-Baruch et al., CVPR 2022; the OpenImages rule that mAP covers
classes with ground truth in the test set): per class, drop the unknown entries, compute AP on the
rest; a class without an annotated positive or without an annotated negative has no AP (NaN) and
is left out of every mean, and the result lists it with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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

T = TypeVar("T")


def default_workers() -> int:
    """Threads for the per-class loop: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _per_class(
    inputs: Inputs, fn: Callable[[Column], T], workers: int | None
) -> Iterator[tuple[Column, T]]:
    """(column, fn(column)) for every class in order; each block of classes is dealt out to
    ``workers`` threads (NumPy sorts release the GIL; results do not depend on the count)."""
    n = default_workers() if workers is None else int(workers)
    if n < 1:
        raise ValueError(f"workers must be ≥ 1, got {workers}")
    if n == 1:
        for block in inputs.blocks():
            yield from ((col, fn(col)) for col in block)
        return
    with ThreadPoolExecutor(n) as pool:
        for block in inputs.blocks():
            parts = list(
                pool.map(lambda part: [fn(c) for c in part], [block[i::n] for i in range(n)])
            )
            out: list[Any] = [None] * len(block)
            for i, part in enumerate(parts):
                out[i::n] = part
            yield from zip(block, out, strict=True)


def _ap_or_nan(col: Column, convention: Convention) -> float:
    n_pos = col.n_pos
    if n_pos == 0 or n_pos == len(col.values):
        return float("nan")
    return column_ap(col.values, col.is_pos, convention)


def average_precision(
    scores: Any,
    targets: Any,
    convention: Convention = "sklearn",
    workers: int | None = None,
) -> np.ndarray:
    """Per-class AP over annotated entries: a (C,) ``float64`` array, NaN for excluded classes.

    ``scores``: N×C logits (array or tensor; fp32 recommended) or :class:`SparseScores`.
    ``targets``: N×C in {1, 0, −1} (array or tensor) or a :class:`~palt.labels.LabelSet`.
    ``convention``: ``"sklearn"`` (default), ``"asl"``, ``"voc"`` or ``"voc07"`` — see
    :mod:`palt.metrics.precision`. ``workers``: threads (default: the usable CPUs).
    """
    check_convention(convention)
    inputs = read_inputs(scores, targets)
    out = np.full(inputs.n_classes, np.nan)
    for col, ap in _per_class(inputs, lambda col: _ap_or_nan(col, convention), workers):
        out[col.index] = ap
    return out


_RESERVED_GROUP_NAMES = {"weighted", "evaluated", "excluded"}


def _group_indices(
    groups: Mapping[str, Sequence[int | str]] | None, inputs: Inputs
) -> dict[str, list[int]]:
    if not groups:
        return {}
    lookup = {n: i for i, n in enumerate(inputs.class_names or ())}
    out: dict[str, list[int]] = {}
    for g, members in groups.items():
        if str(g) in _RESERVED_GROUP_NAMES:
            raise ValueError(
                f"groups: the name {g!r} would clash with a summary key; "
                f"avoid {sorted(_RESERVED_GROUP_NAMES)}"
            )
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
    workers: int | None = None,
) -> EvalResult:
    """AP per class, mAP (plain, positives-weighted, per group), micro AP and thresholded
    P/R/F1, all over annotated entries.

    ``groups``: name → class indices or names (e.g. head/medium/tail from
    :class:`palt.labels.GroupRule`); ``mAP_<name>`` averages the group's evaluated classes.
    ``threshold``: on logits (0 ⇔ p = 0.5), a prediction is positive when ``score ≥ threshold``;
    ignored when ``top_k`` is given (positive when ``score ≥`` the k-th largest of its sample).
    ``class_names`` default to the LabelSet's. ``workers``: threads (default: the usable CPUs).
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

    def measure(col: Column) -> tuple[float, tuple[int, int, int]]:
        if row_cut is None:
            cut: float | np.ndarray = threshold
        else:
            cut = row_cut if col.rows is None else row_cut[col.rows]
        return _ap_or_nan(col, convention), column_counts(col.values, col.is_pos, cut)

    for col, (ap_c, tp_fp_fn) in _per_class(inputs, measure, workers):
        c, n_pos = col.index, col.n_pos
        ap[c] = ap_c
        counts[:, c] = (n_pos, len(col.values) - n_pos, col.n_unknown, *tp_fp_fn)
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
