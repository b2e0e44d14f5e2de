"""Hill loss (``hill``) and Self-Paced Loss Correction (``splc``), Zhang et al. arXiv 2112.07368."""

from __future__ import annotations

import torch

from palt.losses.hill import HillLoss
from palt.losses.splc import SPLCLoss
from palt.methods._criterion import CriterionMethod
from palt.methods.base import Method, Outputs
from palt.methods.registry import register


@register
class Hill(CriterionMethod):
    """Hill loss: focal margin m = 1 on positives, (λ − p)·p² on negatives, λ = 1.5, sum."""

    name = "hill"

    def __init__(
        self,
        margin: float = 1.0,
        gamma: float = 2.0,
        lamb: float = 1.5,
        unknown: str = "negative",
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        self.criterion = HillLoss(margin, gamma, lamb, unknown, reduction)


@register
class SPLC(Method):
    """SPLC: margin focal BCE; from epoch ``change_epoch`` (0-based) negatives with p > τ count
    as positives in the batch."""

    name = "splc"

    def __init__(
        self,
        margin: float = 1.0,
        tau: float = 0.6,
        change_epoch: int = 1,
        gamma: float = 2.0,
        correct_annotated_negatives: bool = False,
        unknown: str = "negative",
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        self.criterion = SPLCLoss(
            margin, tau, change_epoch, gamma, correct_annotated_negatives, unknown, reduction
        )

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        return self.criterion(self.logits(outputs), targets, epoch)
