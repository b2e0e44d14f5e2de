"""Focal loss (``focal``) and Asymmetric Loss (``asl``)."""

from __future__ import annotations

from palt.losses.focal import AsymmetricLoss, FocalLoss
from palt.methods._criterion import CriterionMethod
from palt.methods.registry import register


@register
class Focal(CriterionMethod):
    """Sigmoid focal loss, γ = 2, no α, detached focusing weight, sum (ASL/Hill repos' baseline)."""

    name = "focal"

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = None,
        detach_focal: bool = True,
        unknown: str = "negative",
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        self.criterion = FocalLoss(gamma, alpha, detach_focal, unknown, reduction)


@register
class ASL(CriterionMethod):
    """Asymmetric Loss, γ+ = 0, γ− = 4, m = 0.05 (ASL COCO training script)."""

    name = "asl"

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
        self.criterion = AsymmetricLoss(
            gamma_pos, gamma_neg, clip, eps, detach_focal, unknown, reduction
        )
