"""Pseudo-labels, a statistics-aware loss and a shrinking label space — palt's interpretation of
Zhang, Song, Zuo, Wang, "Towards Imbalanced Large Scale Multi-label Classification with
Partially Annotated Labels", arXiv 2308.00166 (2023).

Only the paper's abstract is known and no code is public; every formula here is palt's reading
of it (``docs/methods/pseudo-stat.md``), and every choice is a parameter.

* Weights (:func:`statistics_weights`): from the observed training counts, an estimate π_c of
  each class's positive rate and per-class weights w⁺_c = g(N/2)/g(N·π_c),
  w⁻_c = g(N/2)/g(N·(1 − π_c)), with g(n) = n^α (``prior``) or the effective number
  (1 − βⁿ)/(1 − β) (``effective_number``, Cui et al. 2019), capped at ``max_weight``.
* Pseudo-labels (:func:`pseudo_labels`): an unknown entry with p = σ(z) ≥ τ⁺_c is a
  pseudo-positive, with p ≤ τ⁻_c a pseudo-negative, otherwise ignored. A per-class budget
  (:func:`budget_pseudo_positives`) keeps at most ⌊r·n⁺_bc⌋ pseudo-positives of class c in a
  batch (n⁺_bc its annotated positives there, r = ``budget_ratio``), the highest-scoring ones.
* Loss (:func:`statistics_aware_loss`): ℓ = a_c·ω·[y⁺ w⁺_c log(1 + e^{−z}) + y⁻ w⁻_c log(1 + e^{z})]
  with y± the annotated or pseudo label, ω = 1 (annotated) or ``pseudo_weight`` (pseudo),
  a_c ∈ {0, 1} the class's membership in the active label space.
* Shrinking (:func:`shrink_label_space`): classes resolved for ``patience`` epochs in a row
  leave the active label space, keeping a minimum number of active classes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from palt.losses._common import TargetMasks, check_reduction, prepare, reduce

WEIGHTINGS: tuple[str, ...] = ("prior", "effective_number", "none")
PRIORS: tuple[str, ...] = ("annotated", "assume_negative")
THRESHOLD_RULES: tuple[str, ...] = ("class_aware", "fixed")


def estimated_prior(
    pos_counts: torch.Tensor, neg_counts: torch.Tensor, n_samples: int, prior: str = "annotated"
) -> torch.Tensor:
    """π_c (float64): ``annotated`` = n⁺/(n⁺ + n⁻), the positive rate among annotated entries
    (unbiased when labels are missing at random), or n⁺/N when a class has no annotated
    negative; ``assume_negative`` = n⁺/N (every unknown counted negative)."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    pos = pos_counts.to(torch.float64)
    neg = neg_counts.to(torch.float64)
    over_n = pos / max(int(n_samples), 1)
    if prior == "assume_negative":
        return over_n
    return torch.where(neg > 0, pos / (pos + neg).clamp_min(1.0), over_n)


def statistics_weights(
    pos_counts: torch.Tensor,
    neg_counts: torch.Tensor,
    n_samples: int,
    weighting: str = "prior",
    power: float = 0.5,
    beta: float = 0.999,
    max_weight: float = 20.0,
    prior: str = "annotated",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(w⁺, w⁻) per class, float64.

    With P_c = max(N·π_c, 1) estimated positives and M_c = max(N·(1 − π_c), 1) negatives:
    w⁺_c = min(g(N/2)/g(P_c), max_weight), w⁻_c = min(g(N/2)/g(M_c), max_weight), where
    g(n) = n^power (``prior``: w⁺ = (1/(2π))^power) or g(n) = (1 − βⁿ)/(1 − β)
    (``effective_number``); ``none`` gives ones. A class with balanced counts gets 1 and 1.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    pi = estimated_prior(pos_counts, neg_counts, n_samples, prior)
    if weighting == "none":
        return torch.ones_like(pi), torch.ones_like(pi)
    n = float(max(int(n_samples), 1))
    p_count = (n * pi).clamp_min(1.0)
    m_count = (n * (1.0 - pi)).clamp_min(1.0)
    half = torch.tensor(n / 2.0, dtype=torch.float64)

    def g(x: torch.Tensor) -> torch.Tensor:
        if weighting == "prior":
            return x**power
        return -torch.expm1(x * math.log(beta)) / (1.0 - beta)

    return (g(half) / g(p_count)).clamp_max(max_weight), (g(half) / g(m_count)).clamp_max(
        max_weight
    )


def class_thresholds(
    mean_pos: torch.Tensor,
    has_stats: torch.Tensor,
    pos_threshold: float = 0.7,
    neg_threshold: float = 0.3,
    neg_fraction: float = 0.5,
    rule: str = "class_aware",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(τ⁺, τ⁻) per class.

    ``fixed``: τ⁺ = ``pos_threshold``, τ⁻ = ``neg_threshold``. ``class_aware``, with μ⁺_c the mean
    predicted probability of the class's annotated positives (previous epoch):
    τ⁺_c = max(pos_threshold, μ⁺_c) — as confident as a typical annotated positive;
    τ⁻_c = min(neg_threshold, neg_fraction · μ⁺_c) — well below a typical positive. Classes
    without statistics (``has_stats`` false) use the fixed values.
    """
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"thresholds must be one of {THRESHOLD_RULES}, got {rule!r}")
    mu = mean_pos.to(torch.float64)
    tau_pos = torch.full_like(mu, pos_threshold)
    tau_neg = torch.full_like(mu, neg_threshold)
    if rule == "fixed":
        return tau_pos, tau_neg
    use = has_stats.to(torch.bool)
    tau_pos = torch.where(use, torch.maximum(tau_pos, mu), tau_pos)
    tau_neg = torch.where(use, torch.minimum(tau_neg, neg_fraction * mu), tau_neg)
    return tau_pos, tau_neg


def pseudo_labels(
    probabilities: torch.Tensor,
    unknown: torch.Tensor,
    tau_pos: torch.Tensor,
    tau_neg: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float masks (pseudo-positive, pseudo-negative) of unknown entries: p ≥ τ⁺_c, p ≤ τ⁻_c.

    Where τ⁻_c ≥ τ⁺_c an entry satisfying both is a pseudo-positive.
    """
    p = probabilities.detach()
    unk = unknown.to(torch.bool)
    pp = unk & (p >= tau_pos.to(p))
    pn = unk & ~pp & (p <= tau_neg.to(p))
    return pp.to(p.dtype), pn.to(p.dtype)


def budget_pseudo_positives(
    pseudo_pos: torch.Tensor, probabilities: torch.Tensor, budget: torch.Tensor
) -> torch.Tensor:
    """Keep, per class c (column), the ``budget[c]`` pseudo-positives with the highest
    probability (ties: the earlier row) and drop the rest (they become ignored entries)."""
    pp = pseudo_pos.to(torch.bool)
    score = torch.where(pp, probabilities.detach().to(torch.float64), -math.inf)
    order = torch.argsort(score, dim=0, descending=True, stable=True)
    rows = torch.arange(pp.shape[0], device=pp.device).unsqueeze(1).expand_as(order)
    rank = torch.empty_like(order).scatter_(0, order, rows)
    return (pp & (rank < budget.to(rank).reshape(1, -1))).to(pseudo_pos.dtype)


class PseudoStatLoss(NamedTuple):
    """The reduced loss, the B×C float masks of the batch's pseudo-labels, and what they were
    computed from: detached probabilities σ(z) and the target masks (for running statistics)."""

    loss: torch.Tensor
    pseudo_pos: torch.Tensor
    pseudo_neg: torch.Tensor
    probabilities: torch.Tensor
    masks: TargetMasks


def statistics_aware_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    w_pos: torch.Tensor,
    w_neg: torch.Tensor,
    tau_pos: torch.Tensor | None = None,
    tau_neg: torch.Tensor | None = None,
    active: torch.Tensor | None = None,
    pseudo_weight: float = 1.0,
    unlabelled: str = "pseudo",
    reduction: str = "mean",
    budget_ratio: float | None = None,
) -> PseudoStatLoss:
    """Weighted BCE on annotated and pseudo-labelled entries of the active classes.

    ``unlabelled`` says what unknown entries are: ``pseudo`` (labelled by :func:`pseudo_labels`
    with τ⁺, τ⁻), ``negative`` (all assumed negative, the warm-up) or ``ignore``. Both assumed
    and pseudo labels are weighted by ``pseudo_weight``. ``annotated_mean`` divides by the
    number of entries taking part (annotated or pseudo-labelled, in active classes).
    ``budget_ratio`` r (pseudo only; None = no budget): at most ⌊r·n⁺_bc⌋ pseudo-positives of
    class c in the batch, n⁺_bc = its annotated positives in the batch, the highest-scoring kept.
    """
    check_reduction(reduction)
    z, m = prepare(logits, targets)
    p = torch.sigmoid(z.detach())
    if unlabelled == "pseudo":
        if tau_pos is None or tau_neg is None:
            raise ValueError("unlabelled='pseudo' needs tau_pos and tau_neg")
        pp, pn = pseudo_labels(p, m.unk, tau_pos, tau_neg)
        if budget_ratio is not None:
            pp = budget_pseudo_positives(
                pp, p, torch.floor(budget_ratio * m.pos.sum(0).double() + 1e-9)
            )
    elif unlabelled == "negative":
        pp, pn = torch.zeros_like(m.unk), m.unk
    elif unlabelled == "ignore":
        pp, pn = torch.zeros_like(m.unk), torch.zeros_like(m.unk)
    else:
        raise ValueError(f"unlabelled must be 'pseudo', 'negative' or 'ignore', got {unlabelled!r}")
    pp, pn = pp.to(z.dtype), pn.to(z.dtype)
    target = m.pos.to(z.dtype) + pp
    weight = (m.pos + pseudo_weight * pp) * w_pos.to(z) + (m.neg + pseudo_weight * pn) * w_neg.to(z)
    taking_part = m.pos + m.neg + pp + pn
    if active is not None:
        a = active.to(z)
        weight, taking_part = weight * a, taking_part * a
    # one weighted BCE: every entry is either a (pseudo-)positive or a (pseudo-)negative
    per_entry = F.binary_cross_entropy_with_logits(z, target, weight=weight, reduction="none")
    return PseudoStatLoss(reduce(per_entry, reduction, counted=taking_part), pp, pn, p, m)


def shrink_label_space(
    resolved: torch.Tensor,
    score: torch.Tensor,
    active: torch.Tensor,
    streak: torch.Tensor,
    patience: int = 2,
    min_active: int = 1,
    reactivate: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch-end step of the label-space schedule; returns (active, streak).

    ``resolved``: classes meeting the resolution criterion this epoch; ``score``: how resolved
    (higher = more). streak ← streak + 1 where resolved, else 0. An active class with
    streak ≥ ``patience`` is frozen, most resolved first, while at least ``min_active`` classes
    stay active. With ``reactivate``, a frozen class that is no longer resolved returns.
    """
    resolved = resolved.to(torch.bool)
    active = active.to(torch.bool).clone()
    streak = torch.where(resolved, streak + 1, torch.zeros_like(streak))
    if reactivate:
        active |= ~resolved
    candidates = torch.nonzero(active & (streak >= patience)).reshape(-1)
    room = int(active.sum()) - int(min_active)
    if room > 0 and candidates.numel() > 0:
        order = torch.argsort(score[candidates].to(torch.float64), descending=True, stable=True)
        active[candidates[order[:room]]] = False
    return active, streak
