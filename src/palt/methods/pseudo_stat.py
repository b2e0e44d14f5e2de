"""``pseudo-stat``: pseudo-labels with a statistics-aware loss and a shrinking label space —
palt's interpretation of Zhang et al. 2023 (arXiv 2308.00166). See ``docs/methods/pseudo-stat.md``."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from palt.labels import LabelSet
from palt.losses._common import check_reduction
from palt.losses._options import check_number
from palt.losses.pseudo_stat import (
    PRIORS,
    THRESHOLD_RULES,
    WEIGHTINGS,
    PseudoStatLoss,
    class_thresholds,
    shrink_label_space,
    statistics_aware_loss,
    statistics_weights,
)
from palt.methods._distributed import all_reduce_sum_
from palt.methods.base import Method, Outputs, TrainContext
from palt.methods.registry import register

RESOLVE_CRITERIA: tuple[str, ...] = ("separation", "loss")
WARMUP_UNKNOWN: tuple[str, ...] = ("negative", "ignore")

# rows of the per-class epoch accumulator (sums of σ(z) and counts, annotated BCE)
_SUM_POS, _N_POS, _SUM_NEG, _N_NEG, _SUM_UNK, _N_UNK, _SUM_BCE, _N_BCE = range(8)
# entries of the per-epoch pseudo-label counter
_PSEUDO_POS, _PSEUDO_NEG, _POS_RIGHT, _NEG_RIGHT, _HIDDEN_POS = range(5)


def _check(name: str, ok: bool, expected: str, value: object) -> None:
    if not ok:
        raise ValueError(f"pseudo-stat: {name} must be {expected}, got {value!r}")


@register
class PseudoStat(Method):
    """Pseudo-labels + statistics-aware loss + shrinking label space (palt's interpretation).

    Statistics-aware weights (fixed, from the observed training labels):
        weighting: ``prior`` (w⁺ = (1/2π)^power, w⁻ = (1/2(1−π))^power), ``effective_number``
            (Cui et al. 2019, ``beta``) or ``none``; weight_power, beta, max_weight (cap);
        prior: how π_c is estimated — ``annotated`` (n⁺/(n⁺+n⁻); n⁺/N without annotated
            negatives) or ``assume_negative`` (n⁺/N).
    Pseudo-labels (unknown entries, from epoch ``warmup_epochs`` on, recomputed every batch):
        thresholds: ``class_aware`` (τ⁺ = max(pos_threshold, μ⁺_c),
            τ⁻ = min(neg_threshold, neg_fraction·μ⁺_c), μ⁺_c = last epoch's mean σ(z) on the
            class's annotated positives) or ``fixed`` (pos_threshold, neg_threshold);
        warmup_unknown: unknown entries during warm-up, ``negative`` (assume negative) or ``ignore``;
        pseudo_weight: loss weight of pseudo (and warm-up assumed) labels;
        budget_ratio: at most ⌊budget_ratio·n⁺_bc⌋ pseudo-positives of class c per batch
            (n⁺_bc its annotated positives in the batch), the highest-scoring; None = no budget.
    Shrinking label space (epoch ends):
        shrink: on/off; resolve_by: ``separation`` (μ⁺_c − μ⁻_c ≥ separation_threshold, μ⁻ over
            annotated negatives, or over unknown entries when a class has none) or ``loss``
            (mean BCE on annotated entries ≤ loss_threshold); patience: epochs in a row;
        min_active_fraction: share of classes that always stays active; reactivate: a frozen
            class that stops meeting the criterion returns.
    reduction: ``mean`` (Σ/(B·C), default) or any palt reduction.
    """

    name = "pseudo-stat"

    def __init__(
        self,
        weighting: str = "prior",
        weight_power: float = 0.5,
        beta: float = 0.999,
        max_weight: float = 20.0,
        prior: str = "annotated",
        thresholds: str = "class_aware",
        pos_threshold: float = 0.7,
        neg_threshold: float = 0.3,
        neg_fraction: float = 0.5,
        warmup_epochs: int = 1,
        warmup_unknown: str = "negative",
        pseudo_weight: float = 1.0,
        budget_ratio: float | None = 0.25,
        shrink: bool = True,
        resolve_by: str = "separation",
        separation_threshold: float = 0.8,
        loss_threshold: float = 0.05,
        patience: int = 2,
        min_active_fraction: float = 0.5,
        reactivate: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        _check("weighting", weighting in WEIGHTINGS, f"one of {WEIGHTINGS}", weighting)
        _check("prior", prior in PRIORS, f"one of {PRIORS}", prior)
        _check("thresholds", thresholds in THRESHOLD_RULES, f"one of {THRESHOLD_RULES}", thresholds)
        _check(
            "warmup_unknown",
            warmup_unknown in WARMUP_UNKNOWN,
            f"one of {WARMUP_UNKNOWN}",
            warmup_unknown,
        )
        _check(
            "resolve_by", resolve_by in RESOLVE_CRITERIA, f"one of {RESOLVE_CRITERIA}", resolve_by
        )
        check_number("weight_power", weight_power)
        check_number("beta", beta, 0.0, 1.0, low_open=True, high_open=True)
        check_number("max_weight", max_weight, low_open=True)
        check_number("pos_threshold", pos_threshold, 0.0, 1.0, low_open=True)
        check_number("neg_threshold", neg_threshold, 0.0, pos_threshold, high_open=True)
        check_number("neg_fraction", neg_fraction, 0.0, 1.0)
        check_number("pseudo_weight", pseudo_weight)
        if budget_ratio is not None:
            check_number("budget_ratio", budget_ratio)
        check_number("separation_threshold", separation_threshold, -1.0, 1.0)
        check_number("loss_threshold", loss_threshold)
        check_number("min_active_fraction", min_active_fraction, 0.0, 1.0, low_open=True)
        for name, value, low in (("warmup_epochs", warmup_epochs, 0), ("patience", patience, 1)):
            _check(name, isinstance(value, int) and value >= low, f"an integer ≥ {low}", value)
        self.weight_options = {
            "weighting": weighting,
            "power": float(weight_power),
            "beta": float(beta),
            "max_weight": float(max_weight),
            "prior": prior,
        }
        self.threshold_options = {
            "pos_threshold": float(pos_threshold),
            "neg_threshold": float(neg_threshold),
            "neg_fraction": float(neg_fraction),
            "rule": thresholds,
        }
        self.warmup_epochs = int(warmup_epochs)
        self.warmup_unknown = warmup_unknown
        self.pseudo_weight = float(pseudo_weight)
        self.budget_ratio = None if budget_ratio is None else float(budget_ratio)
        self.shrink = bool(shrink)
        self.resolve_by = resolve_by
        self.separation_threshold = float(separation_threshold)
        self.loss_threshold = float(loss_threshold)
        self.patience = int(patience)
        self.min_active_fraction = float(min_active_fraction)
        self.reactivate = bool(reactivate)
        self.reduction = check_reduction(reduction)
        self._full: LabelSet | None = None
        self._init_state(0)

    def _init_state(self, c: int) -> None:
        f64 = torch.float64
        device = self.w_pos.device if hasattr(self, "w_pos") else None
        self.register_buffer("w_pos", torch.ones(c, dtype=f64, device=device))
        self.register_buffer("w_neg", torch.ones(c, dtype=f64, device=device))
        self.register_buffer("mean_pos", torch.zeros(c, dtype=f64, device=device))
        self.register_buffer("has_stats", torch.zeros(c, dtype=torch.bool, device=device))
        self.register_buffer("active", torch.ones(c, dtype=torch.bool, device=device))
        self.register_buffer("streak", torch.zeros(c, dtype=torch.int64, device=device))
        self.register_buffer("acc_class", torch.zeros(8, c, dtype=f64, device=device))
        self.register_buffer("acc_pseudo", torch.zeros(5, dtype=f64, device=device))
        self.register_buffer("last_pseudo", torch.full((5,), math.nan, dtype=f64, device=device))

    def setup(self, context: TrainContext) -> None:
        labels = context.train_labels
        self._init_state(labels.n_classes)
        pos = torch.from_numpy(labels.positive_counts())
        neg = torch.from_numpy(labels.negative_counts())
        w_pos, w_neg = statistics_weights(pos, neg, labels.n_samples, **self.weight_options)
        self.w_pos.copy_(w_pos)
        self.w_neg.copy_(w_neg)
        self._full = context.full_train_labels

    @property
    def min_active(self) -> int:
        return max(1, math.ceil(self.min_active_fraction * self.active.numel()))

    def thresholds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(τ⁺, τ⁻) per class used in the current epoch."""
        return class_thresholds(self.mean_pos, self.has_stats, **self.threshold_options)

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        logits = self.logits(outputs)
        if logits.shape[-1] != self.active.numel():
            raise ValueError(
                f"pseudo-stat: logits have {logits.shape[-1]} classes, setup saw "
                f"{self.active.numel()} (call setup(context) first)"
            )
        if epoch >= self.warmup_epochs:
            tau_pos, tau_neg = self.thresholds()
            unlabelled = "pseudo"
        else:
            tau_pos = tau_neg = None
            unlabelled = self.warmup_unknown
        out = statistics_aware_loss(
            logits,
            targets,
            self.w_pos,
            self.w_neg,
            tau_pos,
            tau_neg,
            self.active,
            self.pseudo_weight,
            unlabelled,
            self.reduction,
            self.budget_ratio,
        )
        if self.training:
            with torch.no_grad():
                self._accumulate(logits.detach(), indices, out, unlabelled)
        return out.loss

    def _accumulate(
        self, z: torch.Tensor, indices: torch.Tensor, out: PseudoStatLoss, unlabelled: str
    ) -> None:
        p, m = out.probabilities.float(), out.masks
        sum_pos, sum_neg = (p * m.pos).sum(0), (p * m.neg).sum(0)
        n_pos, n_neg = m.pos.sum(0), m.neg.sum(0)
        sums = [sum_pos, n_pos, sum_neg, n_neg, p.sum(0) - sum_pos - sum_neg]
        sums.append(p.shape[0] - n_pos - n_neg)
        if self.shrink and self.resolve_by == "loss":
            annotated = m.pos + m.neg
            bce = F.binary_cross_entropy_with_logits(
                z.float(), m.pos, weight=annotated, reduction="none"
            )
            sums += [bce.sum(0), n_pos + n_neg]
        acc = torch.stack(sums).to(self.acc_class)
        self.acc_class[: acc.shape[0]] += acc
        if unlabelled != "pseudo":
            return
        a = self.active.to(p).reshape(1, -1)
        pp, pn = out.pseudo_pos.float() * a, out.pseudo_neg.float() * a
        self.acc_pseudo[_PSEUDO_POS] += pp.sum().to(self.acc_pseudo)
        self.acc_pseudo[_PSEUDO_NEG] += pn.sum().to(self.acc_pseudo)
        if self._full is not None:
            full = torch.from_numpy(self._full.rows(indices.cpu().numpy()).astype(np.int64))
            full = full.to(p.device)
            right = ((pp * (full == 1)).sum(), (pn * (full == 0)).sum())
            hidden = (m.unk * a * (full == 1)).sum()
            self.acc_pseudo[_POS_RIGHT] += right[0].to(self.acc_pseudo)
            self.acc_pseudo[_NEG_RIGHT] += right[1].to(self.acc_pseudo)
            self.acc_pseudo[_HIDDEN_POS] += hidden.to(self.acc_pseudo)

    def on_epoch_end(self, epoch: int) -> None:
        all_reduce_sum_(self.acc_class, self.acc_pseudo)
        acc = self.acc_class
        seen_pos = acc[_N_POS] > 0
        mean_pos = acc[_SUM_POS] / acc[_N_POS].clamp_min(1.0)
        self.mean_pos.copy_(torch.where(seen_pos, mean_pos, self.mean_pos))
        self.has_stats |= seen_pos
        if self.shrink:
            resolved, score = self._resolution(acc)
            active, streak = shrink_label_space(
                resolved,
                score,
                self.active,
                self.streak,
                self.patience,
                self.min_active,
                self.reactivate,
            )
            self.active.copy_(active)
            self.streak.copy_(streak)
        self.last_pseudo.copy_(
            self.acc_pseudo
            if epoch >= self.warmup_epochs
            else torch.full_like(self.acc_pseudo, math.nan)
        )
        self.acc_class.zero_()
        self.acc_pseudo.zero_()

    def _resolution(self, acc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(resolved, score) per class from one epoch's accumulators."""
        if self.resolve_by == "loss":
            seen = acc[_N_BCE] > 0
            mean_bce = acc[_SUM_BCE] / acc[_N_BCE].clamp_min(1.0)
            return seen & (mean_bce <= self.loss_threshold), -mean_bce
        has_neg = acc[_N_NEG] > 0
        neg_sum = torch.where(has_neg, acc[_SUM_NEG], acc[_SUM_UNK])
        neg_n = torch.where(has_neg, acc[_N_NEG], acc[_N_UNK])
        seen = (acc[_N_POS] > 0) & (neg_n > 0)
        separation = acc[_SUM_POS] / acc[_N_POS].clamp_min(1.0) - neg_sum / neg_n.clamp_min(1.0)
        return seen & (separation >= self.separation_threshold), separation

    def diagnostics(self) -> dict[str, float]:
        """Active classes; last epoch's pseudo-labels (precision/recall with full labels)."""
        if self.active.numel() == 0:
            return {}
        n_pp, n_pn, right_p, right_n, hidden = (float(x) for x in self.last_pseudo)
        tau_pos, tau_neg = self.thresholds()
        out = {
            "active_classes": float(self.active.sum()),
            "active_fraction": float(self.active.double().mean()),
            "pseudo_positives": n_pp,
            "pseudo_negatives": n_pn,
            "pos_threshold_mean": float(tau_pos.mean()),
            "neg_threshold_mean": float(tau_neg.mean()),
        }
        if self._full is not None:
            out["pseudo_pos_precision"] = right_p / n_pp if n_pp > 0 else math.nan
            out["pseudo_pos_recall"] = right_p / hidden if hidden > 0 else math.nan
            out["pseudo_neg_precision"] = right_n / n_pn if n_pn > 0 else math.nan
        return out
