"""Thresholded metrics over annotated entries: per-class and overall precision, recall, F1.

A prediction is positive when its logit is ≥ ``threshold`` (0 ⇔ p ≥ 0.5), or, with ``top_k``,
when its score is ≥ the k-th largest score of its sample (ties at the k-th score are all
predicted, so a sample may get more than k). Unknown entries count nowhere.

Per class c (TP, FP, FN over its annotated entries):
    P_c = TP/(TP+FP) (0 when nothing is predicted),  R_c = TP/(TP+FN),
    F1_c = 2 P_c R_c / (P_c + R_c) (0 when P_c + R_c = 0).
Averages over the evaluated classes (those with an annotated positive and negative):
    CP = mean P_c,  CR = mean R_c,
    CF1_mean     = mean F1_c              (ASL ``validate.py``, mmpretrain macro F1),
    CF1_of_means = 2·CP·CR / (CP + CR)    (ML-GCN lineage, Chen et al., CVPR 2019).
Overall (pooled counts over every annotated entry of every class):
    OP = ΣTP/Σ(TP+FP),  OR = ΣTP/Σ(TP+FN),  OF1 = 2·OP·OR/(OP+OR).
"""

from __future__ import annotations

import numpy as np


def column_counts(
    values: np.ndarray, is_pos: np.ndarray, cut: float | np.ndarray
) -> tuple[int, int, int]:
    """(TP, FP, FN) of one class; ``cut`` is the threshold, scalar or one per entry."""
    predicted = values >= cut
    tp = int(np.count_nonzero(predicted & is_pos))
    fp = int(np.count_nonzero(predicted)) - tp
    fn = int(np.count_nonzero(is_pos)) - tp
    return tp, fp, fn


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.full(num.shape, empty), where=den > 0)


def f1(p: np.ndarray | float, r: np.ndarray | float) -> np.ndarray:
    """Harmonic mean 2pr/(p+r), 0 where p + r = 0 (NaN stays NaN)."""
    p, r = np.asarray(p, np.float64), np.asarray(r, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p + r == 0, 0.0, 2 * p * r / (p + r))


def per_class_prf(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P_c, R_c, F1_c); R_c is NaN for a class without annotated positives."""
    p = _ratio(tp, tp + fp, 0.0)
    r = _ratio(tp, tp + fn, np.nan)
    return p, r, f1(p, r)


def summary_prf(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, evaluated: np.ndarray
) -> dict[str, float]:
    """CP, CR, CF1_mean, CF1_of_means over ``evaluated`` classes; OP, OR, OF1 pooled."""
    p, r, f = per_class_prf(tp, fp, fn)
    out: dict[str, float] = {}
    if evaluated.any():
        cp, cr = float(p[evaluated].mean()), float(r[evaluated].mean())
        out.update(CP=cp, CR=cr, CF1_mean=float(f[evaluated].mean()))
        out["CF1_of_means"] = float(f1(cp, cr))
    else:
        out.update(CP=np.nan, CR=np.nan, CF1_mean=np.nan, CF1_of_means=np.nan)
    stp, sfp, sfn = int(tp.sum()), int(fp.sum()), int(fn.sum())
    op = float(_ratio(stp, stp + sfp, 0.0))
    orc = float(_ratio(stp, stp + sfn, np.nan))
    out.update(OP=op, OR=orc, OF1=float(f1(op, orc)))
    return out
