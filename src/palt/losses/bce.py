"""Binary cross-entropy with an unknown-label policy, weak assume-negative (WAN) and label smoothing.

All three are one fused ``binary_cross_entropy_with_logits`` call (stable log-sigmoid) with a
target and a per-entry weight. Targets are 1 / 0 / −1 (positive / annotated negative / unknown).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from palt.losses._common import check_reduction, prepare, reduce
from palt.losses._options import (
    BCE_POLICIES,
    check_number,
    check_policy,
    durand_row_weights,
    negatives,
)


def partial_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    unknown: str = "negative",
    reduction: str = "mean",
) -> torch.Tensor:
    """BCE where unknown labels are assumed negative, ignored, or ignored with normalisation.

    ℓ_ic = −[y=1]·log p_ic − [y=0]·log(1 − p_ic), p = σ(z), and for unknown entries (y = −1):

    * ``negative`` (AN, "assume negative"): −log(1 − p);
    * ``ignore``: 0;
    * ``ignore_normalize``: 0, and every entry of image i is multiplied by
      g_i = 1/(1 + #annotated_i) + 1 (Durand et al., CVPR 2019, with α = β = 1 and the "+1"
      of CSL's code, Ben-Baruch et al. 2022, ``partial_loss_mode='ignore_normalize_classes'``).

    Reduction default ``mean`` = Σ/(B·C), as in Cole et al. 2021 / Large Loss Matters for AN;
    CSL's code sums (``reduction='sum'``). ``annotated_mean`` divides by the number of entries that
    take part in the loss.
    """
    check_policy(unknown, BCE_POLICIES)
    check_reduction(reduction)
    z, m = prepare(logits, targets)
    active = m.pos + negatives(m, unknown)
    weight = active * durand_row_weights(m) if unknown == "ignore_normalize" else active
    loss = F.binary_cross_entropy_with_logits(z, m.pos, weight=weight, reduction="none")
    return reduce(loss, reduction, active)


def wan_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    negative_weight: float | None = None,
    unknown: str = "negative",
    reduction: str = "mean",
) -> torch.Tensor:
    """Weak assume-negative loss (Cole et al., CVPR 2021).

    ℓ = −[y=1]·log p − γ·[y∈neg]·log(1 − p), γ = ``negative_weight``, default 1/(C − 1).

    γ multiplies every entry trained as a negative: unknown ones (``unknown='negative'``) and
    annotated ones alike — the reference code maps observed negatives to the same 0 target. With
    ``unknown='ignore'`` unknown entries are dropped. Reduction default ``mean`` = Σ/(B·C) (Cole
    et al.). The reference adds 1e-5 inside the log; we use the exact log-sigmoid.
    """
    check_policy(unknown)
    check_reduction(reduction)
    z, m = prepare(logits, targets)
    c = z.shape[-1]
    if negative_weight is None:
        gamma = 1.0 / (c - 1) if c > 1 else 1.0
    else:
        gamma = check_number("negative_weight", negative_weight)
    neg = negatives(m, unknown)
    weight = m.pos + gamma * neg
    loss = F.binary_cross_entropy_with_logits(z, m.pos, weight=weight, reduction="none")
    return reduce(loss, reduction, m.pos + neg)


def label_smoothing_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    epsilon: float = 0.1,
    unknown: str = "negative",
    reduction: str = "mean",
) -> torch.Tensor:
    """Assume-negative BCE with smoothed targets, LS / LSAN (Cole et al., CVPR 2021).

    positive: (1−ε)·(−log p) + ε·(−log(1−p)); negative: (1−ε)·(−log(1−p)) + ε·(−log p);
    ε = ``epsilon`` = 0.1 (``ls_coef``). Unknown entries are negatives (default) or ignored.
    Reduction default ``mean`` = Σ/(B·C) (Cole et al.).
    """
    check_policy(unknown)
    check_reduction(reduction)
    eps = check_number("epsilon", epsilon, 0.0, 1.0, high_open=True)
    z, m = prepare(logits, targets)
    neg = negatives(m, unknown)
    soft = (1 - eps) * m.pos + eps * neg  # BCE against the soft target gives both terms
    loss = F.binary_cross_entropy_with_logits(z, soft, weight=m.pos + neg, reduction="none")
    return reduce(loss, reduction, m.pos + neg)


class PartialBCELoss(nn.Module):
    """Module form of :func:`partial_bce` (``unknown`` ∈ negative / ignore / ignore_normalize)."""

    def __init__(self, unknown: str = "negative", reduction: str = "mean") -> None:
        super().__init__()
        self.unknown = check_policy(unknown, BCE_POLICIES)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return partial_bce(logits, targets, self.unknown, self.reduction)


class WANLoss(nn.Module):
    """Module form of :func:`wan_loss`."""

    def __init__(
        self,
        negative_weight: float | None = None,
        unknown: str = "negative",
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if negative_weight is not None:
            check_number("negative_weight", negative_weight)
        self.negative_weight = negative_weight
        self.unknown = check_policy(unknown)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return wan_loss(logits, targets, self.negative_weight, self.unknown, self.reduction)


class LabelSmoothingLoss(nn.Module):
    """Module form of :func:`label_smoothing_loss`."""

    def __init__(
        self, epsilon: float = 0.1, unknown: str = "negative", reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.epsilon = check_number("epsilon", epsilon, 0.0, 1.0, high_open=True)
        self.unknown = check_policy(unknown)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return label_smoothing_loss(logits, targets, self.epsilon, self.unknown, self.reduction)
