"""Partial Label Masking (PLM) — Duarte, Rawat, Shah, CVPR Workshops 2021, arXiv 2105.10782.

Per class c, r_c is the ratio of positives to negatives in the training labels and r̂_c an
"ideal" ratio. Every batch, labels are masked at random so that the kept ratio moves to r̂_c:

* head class (r_c > r̂_c): a positive is kept with probability r̂_c / r_c, negatives always;
* tail class (r_c ≤ r̂_c): a negative is kept with probability r_c / r̂_c, positives always.

Loss = mask ⊙ BCE(z, y), masked entries counting in the denominator of the mean (no
renormalisation, as in the only public implementation, a third-party Keras port).

Once per epoch r̂ moves by the KL divergence between the histogram of predicted probabilities
and the ground-truth histogram (a point mass at 1 for positives, at 0 for negatives):
D±_c = Σ_b P±_cb · log(P±_cb / Q±_cb + ε) with zero bins of Q replaced by ε, standardised across
classes D̃ = (D − mean_c D)/(std_c D + ε) (population std), and
r̂_c ← r̂_c · exp(η · (D̃+_c − D̃−_c)).

The paper's text was not available; the details follow specs/losses.md §4 (third-party code),
the definition of r is a parameter (positives/negatives by default). Classes without positives
or without negatives are never masked, and a class whose positive or negative histogram is
empty in an epoch keeps its r̂ and stays out of the standardisation, so no NaN reaches r̂.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from palt.losses._common import TargetMasks, check_reduction, prepare, reduce
from palt.losses._keyed_random import step_uniform
from palt.losses._options import check_policy

RATIO_DEFINITIONS: tuple[str, ...] = ("pos_neg", "pos_total")
#: float64 machine epsilon, the ε of the reference's KL and standardisation
EPS = float(torch.finfo(torch.float64).eps)


def class_ratios(
    pos_counts: torch.Tensor, neg_counts: torch.Tensor, definition: str = "pos_neg"
) -> torch.Tensor:
    """r_c per class (float64): n⁺/n⁻ (``pos_neg``) or n⁺/(n⁺ + n⁻) (``pos_total``).

    A class without positives gets 0, a class without negatives under ``pos_neg`` gets +inf;
    both are left unmasked by :func:`keep_probabilities`.
    """
    if definition not in RATIO_DEFINITIONS:
        raise ValueError(f"ratio must be one of {RATIO_DEFINITIONS}, got {definition!r}")
    pos = pos_counts.to(torch.float64)
    neg = neg_counts.to(torch.float64)
    if definition == "pos_total":
        return torch.where(pos > 0, pos / (pos + neg).clamp_min(1.0), torch.zeros_like(pos))
    out = torch.where(neg > 0, pos / neg.clamp_min(1.0), torch.full_like(pos, torch.inf))
    return torch.where(pos > 0, out, torch.zeros_like(pos))


def keep_probabilities(
    ratio: torch.Tensor, ideal: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class probabilities of keeping a positive and a negative label (float64, length C).

    keep⁺ = r̂/r where r > r̂ (head), keep⁻ = r/r̂ where r ≤ r̂ (tail), 1 otherwise; classes whose
    r or r̂ is 0 or infinite are not masked.
    """
    r, ideal = ratio.to(torch.float64), ideal.to(torch.float64)
    valid = torch.isfinite(r) & torch.isfinite(ideal) & (r > 0) & (ideal > 0)
    safe_r = torch.where(valid, r, torch.ones_like(r))
    safe_i = torch.where(valid, ideal, torch.ones_like(ideal))
    one = torch.ones_like(r)
    keep_pos = torch.where(valid & (r > ideal), safe_i / safe_r, one)
    keep_neg = torch.where(valid & (r <= ideal), safe_r / safe_i, one)
    return keep_pos, keep_neg


def plm_mask(
    pos: torch.Tensor,
    neg: torch.Tensor,
    keep_pos: torch.Tensor,
    keep_neg: torch.Tensor,
    uniform: torch.Tensor,
) -> torch.Tensor:
    """B×C float mask: a positive (negative) entry is kept when u < keep⁺_c (keep⁻_c); others 1."""
    posf, negf = pos.to(uniform.dtype), neg.to(uniform.dtype)
    keep = posf * keep_pos.to(uniform) + negf * keep_neg.to(uniform) + (1.0 - posf - negf)
    return (uniform < keep).to(uniform.dtype)


def plm_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    unknown: str = "ignore",
    reduction: str = "mean",
) -> torch.Tensor:
    """mask ⊙ BCE(z, y); unknown entries are ignored or, with ``unknown="negative"``, negatives.

    ``annotated_mean`` divides by the number of entries that take part before masking (masked
    entries count, as in the reference); ``mean`` divides by B·C (the reference's reduction).
    """
    check_reduction(reduction)
    check_policy(unknown)
    z, m = prepare(logits, targets)
    return _masked_bce(z, m.pos, _negatives(m, unknown), mask, reduction)


def _negatives(m: TargetMasks, unknown: str) -> torch.Tensor:
    return m.neg + m.unk if unknown == "negative" else m.neg


def _masked_bce(
    z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, mask: torch.Tensor, reduction: str
) -> torch.Tensor:
    taking_part = pos + neg
    weight = (taking_part * mask).to(z.dtype)
    per_entry = F.binary_cross_entropy_with_logits(
        z, pos.to(z.dtype), weight=weight, reduction="none"
    )
    return reduce(per_entry, reduction, counted=taking_part)


def kl_to_point_mass(hist: torch.Tensor, point_bin: int, eps: float = EPS) -> torch.Tensor:
    """KL(P ‖ Q) per class for C×bins count histograms, Q a point mass at ``point_bin``.

    P = hist / Σ hist (rows must be non-empty); Q's zero bins are replaced by ``eps`` and
    ``eps`` is added inside the log: D = Σ_b P_b · log(P_b/Q_b + eps), with 0·log(·) = 0.
    """
    p = hist.to(torch.float64)
    p = p / p.sum(dim=1, keepdim=True)
    q = torch.full_like(p, eps)
    q[:, point_bin] = 1.0
    terms = p * torch.log(p / q + eps)
    return torch.where(p > 0, terms, torch.zeros_like(terms)).sum(dim=1)


def _standardise(d: torch.Tensor, eps: float) -> torch.Tensor:
    return (d - d.mean()) / (d.std(correction=0) + eps)


def updated_ideal_ratio(
    ideal: torch.Tensor,
    hist_pos: torch.Tensor,
    hist_neg: torch.Tensor,
    change_rate: float = 0.01,
    eps: float = EPS,
) -> torch.Tensor:
    """r̂ after one epoch: r̂_c · exp(η (D̃⁺_c − D̃⁻_c)) over classes with both histograms non-empty.

    ``hist_pos`` / ``hist_neg``: C×bins counts of predicted probabilities of positive / negative
    entries. Classes with an empty histogram keep r̂ and are left out of the cross-class mean
    and std (the guard against the reference's 0/0).
    """
    ideal = ideal.to(torch.float64)
    valid = (hist_pos.sum(dim=1) > 0) & (hist_neg.sum(dim=1) > 0)
    if not bool(valid.any()):
        return ideal.clone()
    bins = hist_pos.shape[1]
    d_pos = _standardise(kl_to_point_mass(hist_pos[valid], bins - 1, eps), eps)
    d_neg = _standardise(kl_to_point_mass(hist_neg[valid], 0, eps), eps)
    out = ideal.clone()
    out[valid] = ideal[valid] * torch.exp(change_rate * (d_pos - d_neg))
    return out


def probability_histograms(
    probabilities: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, bins: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """C×bins int64 counts of the probabilities of positive and of negative entries (0/1 masks).

    Bin b holds [b/bins, (b+1)/bins); the last bin also holds 1.0 (as ``numpy.histogram``).
    """
    c = probabilities.shape[1]
    span = c * bins
    # one bincount over keys class·bins + bin (+ span for negatives; 2·span = not counted),
    # built with float arithmetic, which is exact below 2^24 and much faster than int64 selects
    dtype = torch.float32 if 2 * span < 2**24 else torch.float64
    posf, negf = pos.to(dtype), neg.to(dtype)
    counted = posf + negf
    b = (probabilities.detach().to(dtype) * bins).floor_().clamp_(0, bins - 1)
    offsets = torch.arange(c, device=b.device, dtype=dtype).reshape(1, -1) * bins
    key = (b + offsets + negf * span) * counted + (1.0 - counted) * (2 * span)
    counts = torch.bincount(key.long().reshape(-1), minlength=2 * span + 1)
    return counts[:span].reshape(c, bins), counts[span : 2 * span].reshape(c, bins)


class PartialLabelMaskingLoss(nn.Module):
    """PLM as a stateful module: r, r̂, the epoch's histograms and the mask counter in buffers.

    Args:
        ratio: r_c per class (see :func:`class_ratios`).
        ideal: initial r̂_c; ``None`` = r (the third-party code's choice: no masking at first).
        change_rate: η of the r̂ update (0.01).
        bins: histogram bins on [0, 1] (10).
        unknown: ``ignore`` (default) or ``negative`` for entries labelled −1.
        reduction: see :func:`plm_loss`; default ``mean`` over B·C as in the reference.
        seed: key of the mask draws (:func:`~palt.losses._keyed_random.step_uniform`).

    Masks are a pure function of (seed, step, the batch's rows), ``step`` counting training
    calls, so a restored ``state_dict`` gives the same next masks. Histograms are accumulated
    (detached) in training mode only; :meth:`update_ideal` applies the epoch update and clears
    them.
    """

    def __init__(
        self,
        ratio: torch.Tensor,
        ideal: torch.Tensor | None = None,
        change_rate: float = 0.01,
        bins: int = 10,
        unknown: str = "ignore",
        reduction: str = "mean",
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_policy(unknown)
        if int(bins) < 2:
            raise ValueError(f"bins must be an integer ≥ 2, got {bins!r}")
        if not float(change_rate) >= 0.0:
            raise ValueError(f"change_rate must be ≥ 0, got {change_rate!r}")
        self.reduction = check_reduction(reduction)
        self.unknown = unknown
        self.change_rate = float(change_rate)
        ratio = torch.as_tensor(ratio, dtype=torch.float64).reshape(-1)
        ideal = ratio.clone() if ideal is None else torch.as_tensor(ideal, dtype=torch.float64)
        if ideal.shape != ratio.shape:
            raise ValueError(f"ideal {tuple(ideal.shape)} and ratio {tuple(ratio.shape)} differ")
        c, nb = ratio.numel(), int(bins)
        self.register_buffer("ratio", ratio)
        self.register_buffer("ideal", ideal.clone())
        self.register_buffer("hist_pos", torch.zeros(c, nb, dtype=torch.int64))
        self.register_buffer("hist_neg", torch.zeros(c, nb, dtype=torch.int64))
        self.register_buffer("seed", torch.tensor(int(seed), dtype=torch.int64))
        self.register_buffer("step", torch.tensor(0, dtype=torch.int64))

    def mask(self, targets: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The mask of the next training call (does not advance the counter)."""
        m = TargetMasks(*((targets == v).float() for v in (1, 0, -1)))
        return self._mask(m.pos, _negatives(m, self.unknown), rows)

    def _mask(
        self, pos: torch.Tensor, neg: torch.Tensor, rows: torch.Tensor | None
    ) -> torch.Tensor:
        keep_pos, keep_neg = keep_probabilities(self.ratio, self.ideal)
        if bool((keep_pos == 1).all() and (keep_neg == 1).all()):
            return torch.ones_like(pos)
        rows = torch.arange(pos.shape[0]) if rows is None else rows
        u = step_uniform(int(self.seed), int(self.step), rows, pos.shape[1], device=pos.device)
        return plm_mask(pos, neg, keep_pos, keep_neg, u)

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """PLM loss of one batch; ``rows`` are the samples' dataset rows (mask keys)."""
        if logits.shape[-1] != self.ratio.numel():
            raise ValueError(
                f"logits have {logits.shape[-1]} classes, PLM has {self.ratio.numel()}"
            )
        z, m = prepare(logits, targets)
        neg = _negatives(m, self.unknown)
        loss = _masked_bce(z, m.pos, neg, self._mask(m.pos, neg, rows), self.reduction)
        if self.training:
            p = torch.sigmoid(z.detach())
            pos_hist, neg_hist = probability_histograms(p, m.pos, neg, self.hist_pos.shape[1])
            self.hist_pos += pos_hist
            self.hist_neg += neg_hist
            self.step += 1
        return loss

    def update_ideal(self) -> None:
        """Apply the epoch's r̂ update (§4.3) and clear the histograms."""
        new = updated_ideal_ratio(self.ideal, self.hist_pos, self.hist_neg, self.change_rate)
        self.ideal.copy_(new)
        self.hist_pos.zero_()
        self.hist_neg.zero_()
