"""Large Loss Matters: rejection / correction of large assumed-negative losses (Kim, Kim, Akata,
Lee, CVPR 2022): LL-R, LL-Ct and LL-Cp."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from palt.losses._common import check_reduction, prepare, reduce
from palt.losses._options import check_number

#: ``reject`` = LL-R, ``correct`` = LL-Ct / LL-Cp (the loss is the same; LL-Cp also stores flips)
LARGE_LOSS_MODES: tuple[str, ...] = ("reject", "correct")


class LargeLossOutput(NamedTuple):
    """The reduced loss and the mask of unknown entries whose loss was strictly above the threshold
    (the entries LL-Cp flips to positive in its stored labels)."""

    loss: torch.Tensor
    above: torch.Tensor


def large_loss_count(batch: int, classes: int, fraction: float) -> int:
    """k = ⌈B·C·fraction⌉ (a 1e-6 tolerance keeps float noise from adding one)."""
    return math.ceil(round(batch * classes * fraction, 6))


def large_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    fraction: float,
    mode: str = "reject",
    reduction: str = "mean",
) -> LargeLossOutput:
    """Assume-negative BCE whose k largest unknown-entry losses are rejected or corrected.

    ℓ = BCE(z, AN target): unknown (−1) and annotated negatives (0) have target 0. Among the
    **unknown** entries only, t = the k-th largest ℓ (computed without gradient), k =
    ⌈B·C·``fraction``⌉ capped at the number of unknown entries. Unknown entries with ℓ ≥ t get
    loss 0 (``reject``, LL-R) or the loss against target 1, −log p (``correct``, LL-Ct/Cp).
    Annotated labels are never ranked, rejected or corrected. ``above`` marks the unknown entries
    with ℓ > t (strict, as the reference code's permanent-correction index).

    ``fraction`` is set by the caller's schedule (LL-R/Ct: epoch·Δ_rel; LL-Cp: Δ_rel; 0 in the
    first epoch). Reduction default ``mean`` = Σ/(B·C) over all entries, rejected ones included
    (reference code; no renormalisation).
    """
    if mode not in LARGE_LOSS_MODES:
        raise ValueError(f"mode must be one of {LARGE_LOSS_MODES}, got {mode!r}")
    check_reduction(reduction)
    fraction = check_number("fraction", fraction, 0.0, 1.0)
    z, m = prepare(logits, targets)
    loss = F.binary_cross_entropy_with_logits(z, m.pos, reduction="none")
    unknown = m.unk.bool()
    k = min(large_loss_count(z.shape[0], z.shape[1], fraction), int(unknown.sum()))
    above = torch.zeros_like(unknown)
    if k > 0:
        ranked = torch.where(unknown, loss.detach(), torch.full_like(loss, -math.inf))
        t = torch.topk(ranked.flatten(), k).values[-1]
        selected = unknown & (ranked >= t)
        above = unknown & (ranked > t)
        # for an unknown entry ℓ = softplus(z), and softplus(z) − z = −log σ(z) (target 1)
        loss = loss * ~selected if mode == "reject" else torch.where(selected, loss - z, loss)
    return LargeLossOutput(reduce(loss, reduction), above)


class LargeLoss(nn.Module):
    """Module form of :func:`large_loss`; ``forward(logits, targets, fraction)`` → loss."""

    def __init__(self, mode: str = "reject", reduction: str = "mean") -> None:
        super().__init__()
        if mode not in LARGE_LOSS_MODES:
            raise ValueError(f"mode must be one of {LARGE_LOSS_MODES}, got {mode!r}")
        self.mode = mode
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, fraction: float) -> torch.Tensor:
        return large_loss(logits, targets, fraction, self.mode, self.reduction).loss
