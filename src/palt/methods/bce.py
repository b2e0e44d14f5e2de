"""BCE with an unknown-label policy (``bce``, preset ``bce-ignore``), WAN (``wan``) and label
smoothing (``ls``)."""

from __future__ import annotations

from palt.losses.bce import LabelSmoothingLoss, PartialBCELoss, WANLoss
from palt.methods._criterion import CriterionMethod
from palt.methods.registry import register, register_preset


@register
class BCE(CriterionMethod):
    """Binary cross-entropy; ``unknown`` ∈ negative (AN) / ignore / ignore_normalize."""

    name = "bce"

    def __init__(self, unknown: str = "negative", reduction: str = "mean") -> None:
        super().__init__()
        self.criterion = PartialBCELoss(unknown, reduction)


register_preset("bce-ignore", "bce", unknown="ignore")


@register
class WAN(CriterionMethod):
    """Weak assume-negative: negatives weighted by 1/(C − 1) (Cole et al., CVPR 2021)."""

    name = "wan"

    def __init__(
        self,
        negative_weight: float | None = None,
        unknown: str = "negative",
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.criterion = WANLoss(negative_weight, unknown, reduction)


@register
class LabelSmoothing(CriterionMethod):
    """Assume-negative BCE with label smoothing ε = 0.1 (LSAN, Cole et al., CVPR 2021)."""

    name = "ls"

    def __init__(
        self, epsilon: float = 0.1, unknown: str = "negative", reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.criterion = LabelSmoothingLoss(epsilon, unknown, reduction)
