"""Focal loss and Asymmetric Loss (ASL) on logits, with targets 1 / 0 / −1.

Neither paper has unknown labels; ``unknown='negative'`` (default, as the papers trained) treats
them as negatives, ``unknown='ignore'`` drops them (zero loss and zero gradient).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from palt.losses._common import check_reduction, prepare, reduce
from palt.losses._options import check_number, check_policy, negatives


def _focusing(weight: torch.Tensor, detach: bool) -> torch.Tensor:
    return weight.detach() if detach else weight


def power(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """x^γ; small integer γ by multiplication (several times faster than ``pow`` on CPU)."""
    if gamma == 0:
        return torch.ones_like(x)
    if gamma == int(gamma) and gamma <= 8:
        out, sq, n = None, x, int(gamma)
        while n:
            if n & 1:
                out = sq if out is None else out * sq
            n >>= 1
            if n:
                sq = sq * sq
        return out
    return x.pow(gamma)


def signed(z: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """z for positive entries, −z for the others: σ(signed) is the probability of the entry's
    own target, so one formula serves both sides."""
    return z * (2.0 * pos - 1.0)


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma: float = 2.0,
    alpha: float | None = None,
    detach_focal: bool = True,
    unknown: str = "negative",
    reduction: str = "sum",
) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al., ICCV 2017) as used in the missing-label comparisons.

    ℓ = −α·[y=1]·(1−p)^γ·log p − (1−α)·[y∈neg]·p^γ·log(1−p), p = σ(z), γ = 2.
    ``alpha=None`` (default) drops α (both sides weight 1, the "α = 0.5" of ASL issue #57).

    Defaults follow the ASL / Hill repositories' focal baseline, ASL(γ+=2, γ−=2, m=0): focusing
    weight detached (``detach_focal=True``) and **sum** reduction. Lin et al. and the DB
    repository do not detach (``detach_focal=False``).
    """
    check_policy(unknown)
    check_reduction(reduction)
    gamma = check_number("gamma", gamma)
    a_pos, a_neg = 1.0, 1.0
    if alpha is not None:
        a_pos = check_number("alpha", alpha, 0.0, 1.0)
        a_neg = 1.0 - a_pos
    z, m = prepare(logits, targets)
    neg = negatives(m, unknown)
    active = m.pos + neg
    zs = signed(z, m.pos)
    w = _focusing(power(torch.sigmoid(-zs), gamma), detach_focal)  # (1−p)^γ or p^γ
    scale = active if alpha is None else a_pos * m.pos + a_neg * neg
    loss = scale * w * F.softplus(-zs)
    return reduce(loss, reduction, active)


def asymmetric_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    detach_focal: bool = True,
    unknown: str = "negative",
    reduction: str = "sum",
) -> torch.Tensor:
    """Asymmetric Loss (Ben-Baruch, Ridnik et al., ICCV 2021).

    p = σ(z), probability margin m (``clip``), p_m = max(p − m, 0):

    ℓ = −[y=1]·(1−p)^{γ+}·log p − [y∈neg]·p_m^{γ−}·log(1 − p_m)

    Both logs take their argument clamped at ``eps`` (as the reference code; zero gradient below
    the clamp). Defaults = the COCO training script: γ+ = 0, γ− = 4, m = 0.05, eps = 1e-8,
    focusing weight detached; the reference class's own default γ+ = 1 is not the paper's.
    Reduction default **sum** over all B·C entries (reference code).
    """
    check_policy(unknown)
    check_reduction(reduction)
    gamma_pos = check_number("gamma_pos", gamma_pos)
    gamma_neg = check_number("gamma_neg", gamma_neg)
    clip = check_number("clip", clip, 0.0, 1.0, high_open=True)
    eps = check_number("eps", eps, 0.0, 1.0, low_open=True, high_open=True)
    z, m = prepare(logits, targets)
    neg = negatives(m, unknown)
    active = m.pos + neg
    zs = signed(z, m.pos)
    shift = clip * neg if clip else 0.0
    # positives: base 1 − p, log argument p; negatives: base p_m, log argument 1 − p_m
    base = (torch.sigmoid(-zs) - shift).clamp(min=0.0)
    log_arg = (torch.sigmoid(zs) + shift).clamp(min=eps, max=1.0)
    if gamma_pos == gamma_neg:
        w = power(base, gamma_pos)
    else:
        w = torch.where(m.pos.bool(), power(base, gamma_pos), power(base, gamma_neg))
    w = _focusing(w, detach_focal)
    loss = -active * w * torch.log(log_arg)
    return reduce(loss, reduction, active)


class FocalLoss(nn.Module):
    """Module form of :func:`focal_loss`."""

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = None,
        detach_focal: bool = True,
        unknown: str = "negative",
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        self.gamma = check_number("gamma", gamma)
        self.alpha = None if alpha is None else check_number("alpha", alpha, 0.0, 1.0)
        self.detach_focal = bool(detach_focal)
        self.unknown = check_policy(unknown)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return focal_loss(
            logits,
            targets,
            self.gamma,
            self.alpha,
            self.detach_focal,
            self.unknown,
            self.reduction,
        )


class AsymmetricLoss(nn.Module):
    """Module form of :func:`asymmetric_loss`."""

    def __init__(
        self,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        detach_focal: bool = True,
        unknown: str = "negative",
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        self.gamma_pos = check_number("gamma_pos", gamma_pos)
        self.gamma_neg = check_number("gamma_neg", gamma_neg)
        self.clip = check_number("clip", clip, 0.0, 1.0, high_open=True)
        self.eps = check_number("eps", eps, 0.0, 1.0, low_open=True, high_open=True)
        self.detach_focal = bool(detach_focal)
        self.unknown = check_policy(unknown)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return asymmetric_loss(
            logits,
            targets,
            self.gamma_pos,
            self.gamma_neg,
            self.clip,
            self.eps,
            self.detach_focal,
            self.unknown,
            self.reduction,
        )
