"""``plm``: Partial Label Masking (Duarte et al., CVPRW 2021) as a palt method."""

from __future__ import annotations

import math

import torch

from palt.losses._options import check_policy
from palt.losses.plm import (
    RATIO_DEFINITIONS,
    PartialLabelMaskingLoss,
    class_ratios,
)
from palt.methods._distributed import all_reduce_sum_
from palt.methods.base import Method, Outputs, TrainContext
from palt.methods.registry import register

IDEAL_INITS: tuple[str, ...] = ("ratio", "balanced")


@register
class PLM(Method):
    """Partial Label Masking: random masking of labels towards an adaptive ideal ratio r̂.

    Args:
        ratio: definition of r_c from the training labels: ``pos_neg`` = n⁺/n⁻ (default, the
            abstract's "ratio of positive and negative samples") or ``pos_total`` = n⁺/(n⁺+n⁻)
            (the third-party code).
        ideal_init: r̂ at the start: ``ratio`` (= r, no masking in epoch 0, third-party code)
            or ``balanced`` (1 for ``pos_neg``, ½ for ``pos_total``).
        change_rate: η of the per-epoch r̂ update (0.01).
        bins: histogram bins on [0, 1] (10).
        unknown: ``negative`` (default: assume negative everywhere, as PLM — which has no
            unknown state — sees "assume negative" labels) or ``ignore`` (−1 entries neither
            enter the loss, nor r, nor the histograms; for benchmarks with annotated negatives).
        reduction: ``mean`` (Σ/(B·C), the reference), or any of ``palt.losses`` reductions.
        seed: key of the step-seeded masks (an integer, 0 by default so that a run is
            reproducible; the batches' rows and the step counter vary the masks anyway).

    Counts n⁺, n⁻ are the observed training labels (with ``unknown="negative"``, n⁻ includes
    the unknown entries). See ``docs/methods/plm.md``.
    """

    name = "plm"

    def __init__(
        self,
        ratio: str = "pos_neg",
        ideal_init: str = "ratio",
        change_rate: float = 0.01,
        bins: int = 10,
        unknown: str = "negative",
        reduction: str = "mean",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if ratio not in RATIO_DEFINITIONS:
            raise ValueError(f"plm: ratio must be one of {RATIO_DEFINITIONS}, got {ratio!r}")
        if ideal_init not in IDEAL_INITS:
            raise ValueError(f"plm: ideal_init must be one of {IDEAL_INITS}, got {ideal_init!r}")
        check_policy(unknown)
        self.ratio_definition = ratio
        self.ideal_init = ideal_init
        self.options = {
            "change_rate": change_rate,
            "bins": bins,
            "unknown": unknown,
            "reduction": reduction,
        }
        self.seed = int(seed)
        self.criterion: PartialLabelMaskingLoss | None = None

    def setup(self, context: TrainContext) -> None:
        labels = context.train_labels
        pos = torch.from_numpy(labels.positive_counts())
        neg = torch.from_numpy(labels.negative_counts())
        if self.options["unknown"] == "negative":
            neg = neg + torch.from_numpy(labels.unknown_counts())
        ratio = class_ratios(pos, neg, self.ratio_definition)
        ideal = None
        if self.ideal_init == "balanced":
            ideal = torch.full_like(ratio, 1.0 if self.ratio_definition == "pos_neg" else 0.5)
        self.criterion = PartialLabelMaskingLoss(ratio, ideal, seed=self.seed, **self.options)

    def _criterion(self) -> PartialLabelMaskingLoss:
        if self.criterion is None:
            raise RuntimeError("plm: call setup(context) before training")
        return self.criterion

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        return self._criterion()(self.logits(outputs), targets, indices)

    def on_epoch_end(self, epoch: int) -> None:
        crit = self._criterion()
        all_reduce_sum_(crit.hist_pos, crit.hist_neg)
        crit.update_ideal()

    def diagnostics(self) -> dict[str, float]:
        """Classes whose positives (head) or negatives (tail) are masked, and mean log(r̂/r)."""
        if self.criterion is None:
            return {}
        r, ideal = self.criterion.ratio, self.criterion.ideal
        valid = torch.isfinite(r) & (r > 0)
        log_gap = torch.log(ideal[valid] / r[valid])
        return {
            "head_masked_classes": float(((r > ideal) & valid).sum()),
            "tail_masked_classes": float(((r < ideal) & valid).sum()),
            "mean_log_ideal_over_ratio": float(log_gap.mean()) if log_gap.numel() else math.nan,
        }
