"""Multi-label losses for long-tailed and partially-labelled data.

Every loss takes **logits** (never probabilities) and targets in {1, 0, −1}, computes in fp32
even under autocast, and has an explicit ``reduction`` whose default and the reference paper's
choice are documented on the class. Statistics (class counts, priors) are tensors or buffers.
Use them in any training loop; :mod:`palt.methods` wraps them with the hooks of the trainer.
"""

from palt.losses.bce import (
    LabelSmoothingLoss,
    PartialBCELoss,
    WANLoss,
    label_smoothing_loss,
    partial_bce,
    wan_loss,
)
from palt.losses.comic import HeadTailBalancer, MultiFocalModifier, ReflectiveLabelCorrector
from palt.losses.csl import PartialSelectiveLoss, partial_selective_loss
from palt.losses.db import DistributionBalancedLoss, distribution_balanced_loss
from palt.losses.focal import AsymmetricLoss, FocalLoss, asymmetric_loss, focal_loss
from palt.losses.hill import HillLoss, hill_loss
from palt.losses.large_loss import LargeLoss, large_loss
from palt.losses.plm import PartialLabelMaskingLoss, plm_loss
from palt.losses.pseudo_stat import PseudoStatLoss, statistics_aware_loss
from palt.losses.splc import SPLCLoss, splc_loss

__all__ = [
    "AsymmetricLoss",
    "DistributionBalancedLoss",
    "FocalLoss",
    "HeadTailBalancer",
    "HillLoss",
    "LabelSmoothingLoss",
    "LargeLoss",
    "MultiFocalModifier",
    "PartialBCELoss",
    "PartialLabelMaskingLoss",
    "PartialSelectiveLoss",
    "PseudoStatLoss",
    "ReflectiveLabelCorrector",
    "SPLCLoss",
    "WANLoss",
    "asymmetric_loss",
    "distribution_balanced_loss",
    "focal_loss",
    "hill_loss",
    "label_smoothing_loss",
    "large_loss",
    "partial_bce",
    "partial_selective_loss",
    "plm_loss",
    "splc_loss",
    "statistics_aware_loss",
    "wan_loss",
]
