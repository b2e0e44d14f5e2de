"""Missing-label simulations: complete labels in, observed labels (1 / 0 / −1) out.

Each scheme takes the full labels of a split and a seed (a numpy ``Generator`` is built from it)
and returns a sparse :class:`LabelSet` with the same samples and classes. Entries that are unknown
in the full labels stay unknown.

Positive-only schemes (the observation reveals some positives and nothing else) mark every other
entry unknown (−1): a dropped positive and a true negative look the same, as in the papers, where
both are stored as 0. Whether unknown is then read as negative is the method's choice.

* :func:`drop_positives` — COMIC (Zhang et al., ICCV 2023) "missing rate ρ": each positive is
  dropped with probability ρ; an image left without a positive gets one of its original
  positives back (uniformly chosen). With ``keep_one=False`` and ρ = 1 − x this is the "x % of
  labels left" protocol of Zhang et al. 2021 (Hill / SPLC, arXiv 2112.07368).
* :func:`single_positive` — Cole et al., CVPR 2021: one uniformly chosen positive per image.
* :func:`fix_per_class` — CSL "FPC" (Ben-Baruch et al., CVPR 2022): per class, ``N_f`` positives
  and ``N_f`` negatives stay annotated, everything else becomes unknown.
* :func:`random_per_sample` — CSL "RPS": every annotated entry becomes unknown with probability p.
"""

from __future__ import annotations

import numpy as np

from palt.labels import LabelSet

_CHUNK = 4096  # rows per dense block in random_per_sample (fixes the random stream too)


def _check_rate(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def _positives_only(labels: LabelSet, ptr: np.ndarray, idx: np.ndarray) -> LabelSet:
    n = labels.n_samples
    return LabelSet.from_csr(
        ptr,
        idx,
        np.zeros(n + 1, np.int64),
        np.zeros(0, np.int32),
        classes=labels.classes,
        ids=labels.ids,
        unlisted="unknown",
    )


def _ptr_from_keep(ptr: np.ndarray, keep: np.ndarray) -> np.ndarray:
    rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    out = np.zeros(len(ptr), np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=len(ptr) - 1), out=out[1:])
    return out


def drop_positives(
    full: LabelSet, rate: float = 0.4, seed: int = 0, *, keep_one: bool = True
) -> LabelSet:
    """COMIC drop: each positive becomes unknown w.p. ``rate``; ≥ 1 positive kept per image.

    Draws: one uniform number per positive in row-major (row, class) order, then one integer per
    image that lost all its positives (``keep_one``), in row order.
    """
    _check_rate(rate, "rate")
    rng = np.random.default_rng(seed)
    pi, px, _, _ = full.csr_arrays()
    keep = rng.random(len(px)) >= rate
    if keep_one:
        rows = np.repeat(np.arange(full.n_samples), np.diff(pi))
        kept_per_row = np.bincount(rows[keep], minlength=full.n_samples)
        emptied = np.flatnonzero((np.diff(pi) > 0) & (kept_per_row == 0))
        picks = rng.integers(0, np.diff(pi)[emptied]) if len(emptied) else np.zeros(0, np.int64)
        keep[pi[emptied] + picks] = True
    return _positives_only(full, _ptr_from_keep(pi, keep), px[keep])


def single_positive(full: LabelSet, seed: int = 0) -> LabelSet:
    """One uniformly chosen positive per image (images without positives stay all unknown)."""
    rng = np.random.default_rng(seed)
    pi, px, _, _ = full.csr_arrays()
    sizes = np.diff(pi)
    rows = np.flatnonzero(sizes > 0)
    picks = rng.integers(0, sizes[rows]) if len(rows) else np.zeros(0, np.int64)
    keep = np.zeros(len(px), bool)
    keep[pi[rows] + picks] = True
    return _positives_only(full, _ptr_from_keep(pi, keep), px[keep])


def fix_per_class(full: LabelSet, n_fixed: int = 1000, seed: int = 0) -> LabelSet:
    """CSL FPC: per class, ``min(N_f, #pos)`` positives and ``min(N_f, #neg)`` negatives stay.

    Classes are visited in index order; for each, positives are drawn first, then negatives
    (``Generator.choice`` without replacement). Per-image annotation counts vary; many images
    end up with no annotation, as in the CSL simulation.
    """
    if n_fixed < 0:
        raise ValueError(f"n_fixed must be ≥ 0, got {n_fixed}")
    rng = np.random.default_rng(seed)
    n = full.n_samples
    pos_rows, pos_cls, neg_rows, neg_cls = [], [], [], []
    for c in range(full.n_classes):
        pos, neg = full.column_entries(c)
        if neg is None:  # every row that is not positive is a negative
            mask = np.ones(n, bool)
            mask[pos] = False
            neg = np.flatnonzero(mask)
        for rows, out_r, out_c in ((pos, pos_rows, pos_cls), (neg, neg_rows, neg_cls)):
            chosen = rng.choice(rows, size=min(n_fixed, len(rows)), replace=False)
            out_r.append(chosen)
            out_c.append(np.full(len(chosen), c, np.int64))
    pi, px = _csr_from_pairs(np.concatenate(pos_rows), np.concatenate(pos_cls), n)
    ni, nx = _csr_from_pairs(np.concatenate(neg_rows), np.concatenate(neg_cls), n)
    return LabelSet.from_csr(pi, px, ni, nx, classes=full.classes, ids=full.ids, unlisted="unknown")


def random_per_sample(full: LabelSet, p: float = 0.5, seed: int = 0) -> LabelSet:
    """CSL RPS: every annotated entry (positive or negative) becomes unknown w.p. ``p``.

    Works on dense blocks of 4096 rows (one uniform per entry, row-major), so sparse inputs with
    implied negatives never become one N×C matrix.
    """
    _check_rate(p, "p")
    rng = np.random.default_rng(seed)
    n = full.n_samples
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, n, _CHUNK):
        block = full.rows(np.arange(start, min(start + _CHUNK, n)))
        hidden = rng.random(block.shape) < p
        block[hidden] = -1
        pr, pc = np.nonzero(block == 1)
        nr, nc = np.nonzero(block == 0)
        parts.append((pr + start, pc, nr + start, nc))
    empty = np.zeros(0, np.int64)
    cat = [np.concatenate([pt[k] for pt in parts]) if parts else empty for k in range(4)]
    pi, px = _csr_from_pairs(cat[0], cat[1], n)
    ni, nx = _csr_from_pairs(cat[2], cat[3], n)
    return LabelSet.from_csr(pi, px, ni, nx, classes=full.classes, ids=full.ids, unlisted="unknown")


def _csr_from_pairs(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((cols, rows))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return ptr, cols[order].astype(np.int32)


def positives_left(full: LabelSet, fraction: float = 0.4, seed: int = 0) -> LabelSet:
    """ "x % of labels left" (Hill/SPLC): each positive kept w.p. ``fraction``, no ≥ 1 guarantee.

    The published COCO lists keep 75.3 % and 39.9 % of the positives for x = 75 % / 40 %, which is
    what independent keeps give; the generator script was not released.
    """
    _check_rate(fraction, "fraction")
    return drop_positives(full, 1.0 - fraction, seed, keep_one=False)


#: schemes that reveal positives only (every other entry of their output is unknown)
POSITIVE_ONLY = ("drop-positives", "positives-left", "single-positive")

#: scheme name → (function, name of its rate/size parameter, default)
SCHEMES = {
    "drop-positives": (drop_positives, "rate", 0.4),
    "positives-left": (positives_left, "fraction", 0.4),
    "single-positive": (single_positive, None, None),
    "fix-per-class": (fix_per_class, "n_fixed", 1000),
    "random-per-sample": (random_per_sample, "p", 0.5),
}


def simulate(full: LabelSet, scheme: str, value: float | None = None, seed: int = 0) -> LabelSet:
    """Apply the named scheme; ``value`` is its rate/size parameter (the default when ``None``)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown missing-label scheme {scheme!r}; choose from {sorted(SCHEMES)}")
    fn, param, default = SCHEMES[scheme]
    if param is None:
        if value is not None:
            raise ValueError(f"scheme {scheme!r} takes no rate parameter, got {value}")
        return fn(full, seed=seed)
    value = default if value is None else value
    if param == "n_fixed":
        if float(value) != int(value):
            raise ValueError(f"n_fixed must be an integer, got {value}")
        value = int(value)
    return fn(full, value, seed=seed)
