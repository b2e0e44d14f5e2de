"""Hill loss (Zhang et al., "Simple and Robust Loss Design for Multi-Label Learning with Missing
Labels", arXiv 2112.07368)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from palt.losses._common import check_reduction, prepare, reduce
from palt.losses._options import check_number, check_policy, negatives
from palt.losses.focal import power


def hill_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    margin: float = 1.0,
    gamma: float = 2.0,
    lamb: float = 1.5,
    unknown: str = "negative",
    reduction: str = "sum",
) -> torch.Tensor:
    """Hill loss: focal margin on positives, hill-shaped weight on negatives.

    positive: (1 − p_m)^γ · (−log p_m), p_m = σ(z − m)  (margin on the logit, m = 1, γ = 2);
    negative: (λ − p)·p², p = σ(z), λ = ``lamb`` = 1.5.

    Missing labels are negatives in the paper (``unknown='negative'``); ``'ignore'`` drops them.
    The focusing weight is not detached (reference code). log p_m is the log-sigmoid, finite for
    every logit (the reference's log σ gives NaN for z − m below about −90 in fp32).
    Reduction default **sum** (reference code).
    """
    check_policy(unknown)
    check_reduction(reduction)
    margin = check_number("margin", margin, -1e6, 1e6)
    gamma = check_number("gamma", gamma)
    lamb = check_number("lamb", lamb)
    z, m = prepare(logits, targets)
    neg = negatives(m, unknown)
    z_m = z - margin
    pos_loss = power(torch.sigmoid(-z_m), gamma) * F.softplus(-z_m)
    p = torch.sigmoid(z)
    neg_loss = (lamb - p) * p.square()
    loss = m.pos * pos_loss + neg * neg_loss
    return reduce(loss, reduction, m.pos + neg)


class HillLoss(nn.Module):
    """Module form of :func:`hill_loss`."""

    def __init__(
        self,
        margin: float = 1.0,
        gamma: float = 2.0,
        lamb: float = 1.5,
        unknown: str = "negative",
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        self.margin = check_number("margin", margin, -1e6, 1e6)
        self.gamma = check_number("gamma", gamma)
        self.lamb = check_number("lamb", lamb)
        self.unknown = check_policy(unknown)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return hill_loss(
            logits, targets, self.margin, self.gamma, self.lamb, self.unknown, self.reduction
        )
