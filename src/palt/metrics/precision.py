"""Average precision of one ranked list of annotated entries, under four conventions.

Notation for one class: the annotated entries (unknowns already removed) with scores s_i and
labels y_i ∈ {0, 1}; P = Σ y_i positives. For a positive k with score s_k,

    TP(≥s_k) = #{positives with s ≥ s_k},   N(≥s_k) = #{annotated entries with s ≥ s_k},
    prec_k   = TP(≥s_k) / N(≥s_k)          (precision at the end of s_k's tie block).

* ``"sklearn"`` (default) — non-interpolated AP, AP = Σ_n (R_n − R_{n−1}) P_n over distinct
  thresholds, which equals (1/P) Σ_k prec_k: every positive of a tie block gets the precision
  at the end of the block (``sklearn.metrics.average_precision_score``; torchmetrics).
* ``"asl"`` — the ASL-family helper (Ridnik et al., ICCV 2021, ``helper_functions.py``): rank by
  the reversed ``argsort``, AP = (1/P) Σ_k (#positives at rank ≤ r_k) / r_k. Ties are broken
  the way a *stable* ascending argsort reversed breaks them: within a tie block the entry with
  the larger sample index ranks first. (The original uses NumPy's unstable default sort, so its
  order inside ties is implementation-dependent, and divides by P + 1e-8; neither is copied.)
* ``"voc"`` — PASCAL VOC 2010+ all-point interpolation: precision replaced by its envelope
  p̂(r) = max{prec at recall ≥ r}; AP = (1/P) Σ_k p̂(R_k), on the tie-grouped curve.
* ``"voc07"`` — VOC2007 11-point: AP = (1/11) Σ_{r ∈ {0, 0.1, …, 1}} max{prec_k : R_k ≥ r}
  (0 when no point reaches r). Recall is compared exactly (10·TP ≥ j·P), not with the
  ``np.arange(0, 1.1, 0.1)`` floats of ``voc_eval.py``, where 3·0.1 > 0.3.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Convention = Literal["sklearn", "asl", "voc", "voc07"]
CONVENTIONS: tuple[str, ...] = ("sklearn", "asl", "voc", "voc07")


def check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def positive_precisions(
    sorted_all: np.ndarray, sorted_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(prec_k, TP(≥s_k)) for every positive, positives in ascending score order.

    ``sorted_all``: scores of all annotated entries, ascending; ``sorted_pos``: scores of the
    positives, ascending. Counting with ``side="left"`` puts every tied entry above s_k, which is
    exactly the end-of-tie-block precision.
    """
    n_ge = len(sorted_all) - np.searchsorted(sorted_all, sorted_pos, side="left")
    tp_ge = len(sorted_pos) - np.searchsorted(sorted_pos, sorted_pos, side="left")
    return tp_ge / n_ge, tp_ge


def ap_from_precisions(prec: np.ndarray, tp_ge: np.ndarray, convention: Convention) -> float:
    """AP from :func:`positive_precisions` output (``sklearn``, ``voc`` or ``voc07``)."""
    if convention == "sklearn":
        return float(prec.mean())
    # positives are in ascending score order, so a prefix holds the higher recalls
    envelope = np.maximum.accumulate(prec)
    if convention == "voc":
        return float(envelope.mean())
    n_pos = len(prec)
    levels = np.arange(11)
    reach = np.count_nonzero(10 * tp_ge[None, :] >= levels[:, None] * n_pos, axis=1)
    points = np.where(reach > 0, envelope[np.maximum(reach - 1, 0)], 0.0)
    return float(points.mean())


def ap_asl(values: np.ndarray, is_pos: np.ndarray) -> float:
    """ASL-family AP; ``values`` in sample order (the order that breaks ties)."""
    order = np.argsort(values, kind="stable")[::-1]
    ranked = is_pos[order]
    hits = np.flatnonzero(ranked)
    return float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))


def column_ap(values: np.ndarray, is_pos: np.ndarray, convention: Convention) -> float:
    """AP of one class from its annotated entries (needs ≥ 1 positive and ≥ 1 negative)."""
    if convention == "asl":
        return ap_asl(values, is_pos)
    sorted_all = np.sort(values)
    sorted_pos = np.sort(values[is_pos])
    prec, tp_ge = positive_precisions(sorted_all, sorted_pos)
    return ap_from_precisions(prec, tp_ge, convention)
