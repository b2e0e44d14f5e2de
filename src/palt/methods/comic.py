"""COMIC (Zhang et al., ICCV 2023): correction, modification and balance for partial, long-tailed labels.

Method ``comic`` (and presets ``comic-pfm``, ``comic-code``). Architecture in
:mod:`palt.methods.comic_head`, losses in :mod:`palt.losses.comic`; every paper-vs-code choice is
listed in ``docs/methods/comic.md``. Total loss (``specs/comic.md`` §3.4, recommended)::

    L = [λ_m MFM(z_h) + λ_c RLC_h(ẑ_h)]                        head model
      + [λ_m MFM(z_t) + λ_c RLC_t(ẑ_t)]                        tail model
      + [λ_m MFM(z_b) + λ_c RLC_b(z_b) + λ_b L_htb(ẑ_h, ẑ_t, z_b)]   balanced model

Every cross-branch input of the balanced loss is detached (κ, the head/tail softmax, the head/tail
features entering the attention), so one backward of the sum sends each model's loss into its own
parameters only, as the official code's three backward passes do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from palt.labels import LabelSet
from palt.losses._common import prepare
from palt.losses.comic import HeadTailBalancer, MultiFocalModifier, ReflectiveLabelCorrector
from palt.methods.base import Method, Outputs, TrainContext
from palt.methods.comic_head import ATTENTION_MODES, BRANCHES, ComicHead
from palt.methods.registry import register, register_preset

# StepLR step sizes (epochs) per module, from the official configs (specs/comic.md §4).
LR_STEPS: dict[str, dict[str, int]] = {
    "coco": {
        "projection.balanced": 12,
        "attention": 18,
        "classifier.balanced": 18,
        "projection.head": 24,
        "classifier.head": 24,
        "projection.tail": 12,
        "classifier.tail": 12,
    },
    "voc": {
        "projection.balanced": 12,
        "attention": 18,
        "classifier.balanced": 18,
        "projection.head": 12,
        "classifier.head": 12,
        "projection.tail": 24,
        "classifier.tail": 24,
    },
}
BALANCE_MODES = ("htb", "irm", "none")
PREDICT_BRANCHES = ("balanced", "head", "tail")
_PREDICT_KEYS = {"balanced": "logits", "head": "zhat_head", "tail": "zhat_tail"}


def _sparse_cooccurrence(labels: LabelSet) -> torch.Tensor:
    """``M = YᵀY`` over the observed positives as a torch sparse COO tensor."""
    m = labels.cooccurrence(sparse=True).astype(np.float64).tocoo()
    index = torch.from_numpy(np.vstack([m.row, m.col]).astype(np.int64))
    return torch.sparse_coo_tensor(index, torch.from_numpy(m.data), m.shape, check_invariants=True)


def _choice(name: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    if value not in allowed:
        raise ValueError(f"comic: {name} must be one of {allowed}, got {value!r}")
    return value


@register
class Comic(Method):
    """COMIC: three branches (head, tail, balanced) with RLC, MFM and HTB.

    ``mfm_variant``: ``"A"`` (paper) or ``"B"`` (repo's co-occurrence PFM). ``balance``: ``"htb"``
    (paper), ``"irm"`` (the code's ``(1/3)Σ MFM`` of the three branches, not detached) or
    ``"none"``. ``rlc_threshold``: ``"batch"`` (code) or ``"ema"``. ``predict_branch`` chooses the
    logits used for evaluation (``zhat`` for head/tail). Learning rates are relative to the
    engine's ``lr``: projections and attention ``lr``, classifiers ``lr·classifier_lr_scale``
    (recipe: lr = 1e-3, scale 0.1); ``lr_steps`` adds the recipe's per-module StepLR step sizes
    (``"coco"``, ``"voc"`` or ``"none"``).
    """

    name = "comic"

    def __init__(
        self,
        mfm_variant: str = "A",
        balance: str = "htb",
        lambda_c: float = 0.2,
        lambda_m: float = 1.0,
        lambda_b: float = 0.5,
        htb_exponent: float = 2.0,
        tau: float = 0.7,
        margin: float = 1.0,
        rlc_threshold: str = "batch",
        rlc_threshold_momentum: float = 0.9,
        rlc_start_epoch: int = 0,
        rlc_batch_scale: float = 32.0,
        hidden: int = 1024,
        feature_log_softmax: bool = True,
        classifier_scale: float = 16.0,
        classifier_eta: float = 1.0 / 32.0,
        classifier_groups: int = 1,
        head_coefficient: float = 1.0,
        tail_coefficient: float = 2.0,
        momentum: float = 0.9,
        attention: str = "trained",
        attention_scale: float = 0.1,
        attention_dropout: float = 0.1,
        predict_branch: str = "balanced",
        classifier_lr_scale: float = 0.1,
        lr_steps: str = "coco",
    ) -> None:
        super().__init__()
        self.mfm_variant = _choice("mfm_variant", mfm_variant, ("A", "B"))
        self.balance = _choice("balance", balance, BALANCE_MODES)
        self.rlc_threshold = _choice("rlc_threshold", rlc_threshold, ("batch", "ema"))
        self.predict_branch = _choice("predict_branch", predict_branch, PREDICT_BRANCHES)
        self.lr_steps = _choice("lr_steps", lr_steps, ("coco", "voc", "none"))
        _choice("attention", attention, ATTENTION_MODES)
        if hidden < 1 or classifier_groups < 1:
            raise ValueError("comic: hidden and classifier_groups must be positive integers")
        self.lambda_c, self.lambda_m, self.lambda_b = (
            float(lambda_c),
            float(lambda_m),
            float(lambda_b),
        )
        self.htb_exponent = float(htb_exponent)
        self.rlc_options = {
            "tau": float(tau),
            "margin": float(margin),
            "batch_scale": float(rlc_batch_scale),
            "threshold": rlc_threshold,
            "threshold_momentum": float(rlc_threshold_momentum),
            "start_epoch": int(rlc_start_epoch),
        }
        self.head_options = {
            "hidden": int(hidden),
            "log_softmax": bool(feature_log_softmax),
            "scale": float(classifier_scale),
            "eta": float(classifier_eta),
            "groups": int(classifier_groups),
            "head_coefficient": float(head_coefficient),
            "tail_coefficient": float(tail_coefficient),
            "momentum": float(momentum),
            "attention": attention,
            "attention_scale": float(attention_scale),
            "attention_hidden": int(hidden),
            "attention_dropout": float(attention_dropout),
        }
        self.classifier_lr_scale = float(classifier_lr_scale)
        self.full_labels: LabelSet | None = None
        self.register_buffer("diag_epoch", torch.tensor(-1, dtype=torch.long))
        # per branch: recalled, recalled and truly positive, missing positives seen
        self.register_buffer("diag_counts", torch.zeros(len(BRANCHES), 3, dtype=torch.float64))

    def build_head(self, in_features: int, num_classes: int) -> nn.Module:
        return ComicHead(in_features, num_classes, **self.head_options)

    def setup(self, context: TrainContext) -> None:
        labels = context.train_labels
        counts = torch.as_tensor(labels.positive_counts())
        cooc = _sparse_cooccurrence(labels) if self.mfm_variant == "B" else None
        mfm = MultiFocalModifier(counts, variant=self.mfm_variant, cooccurrence=cooc)
        # the balancer owns the one MFM instance (shared tensors would break safetensors)
        self.htb = HeadTailBalancer(mfm, exponent=self.htb_exponent)
        self.rlc = nn.ModuleDict(
            {b: ReflectiveLabelCorrector(counts, **self.rlc_options) for b in BRANCHES}
        )
        if (
            context.full_train_labels is not None
            and context.full_train_labels.shape != labels.shape
        ):
            raise ValueError(
                f"comic: full_train_labels {context.full_train_labels.shape} differ from "
                f"train_labels {labels.shape}"
            )
        self.full_labels = context.full_train_labels

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        if not isinstance(outputs, dict) or "zhat_head" not in outputs:
            raise TypeError(
                "comic: outputs must be the dict returned by the COMIC head (build_head)"
            )
        if not hasattr(self, "htb"):
            raise RuntimeError("comic: setup(context) must be called before loss()")
        z_b, masks = prepare(outputs["logits"], targets)  # the targets are checked once
        positive = masks.pos > 0
        z_h, zhat_h = outputs["z_head"], outputs["zhat_head"]
        z_t, zhat_t = outputs["z_tail"], outputs["zhat_tail"]
        mfm = self.htb.loss
        a = None if mfm.prior is None else mfm.prior_scores(positive.to(z_b.dtype))
        mfm_h, mfm_t, mfm_b = (mfm.from_positives(z, positive, a) for z in (z_h, z_t, z_b))
        rlc_inputs = {"head": zhat_h, "tail": zhat_t, "balanced": z_b}
        rlc = {b: self.rlc[b].from_positives(rlc_inputs[b], positive, epoch) for b in BRANCHES}
        total = self.lambda_m * (mfm_h + mfm_t + mfm_b) + self.lambda_c * sum(rlc.values())
        if self.balance == "htb":
            total = total + self.lambda_b * self.htb.from_positives(
                zhat_h, zhat_t, z_b, positive, a
            )
        elif self.balance == "irm":
            total = total + self.lambda_b * (mfm_h + mfm_t + mfm_b) / 3
        self._count_recalled(positive, indices, epoch)
        return total

    def _count_recalled(self, positive: torch.Tensor, indices: torch.Tensor, epoch: int) -> None:
        if int(self.diag_epoch) != epoch:
            self.diag_epoch.fill_(epoch)
            self.diag_counts.zero_()
        recalled = torch.stack([self.rlc[b].last_recalled for b in BRANCHES])
        counts = [recalled.sum((1, 2))]
        if self.full_labels is not None:
            rows = self.full_labels.rows(indices.detach().cpu().numpy())
            full = torch.as_tensor(rows == 1, device=positive.device)
            missing = (full & ~positive).sum()
            counts += [(recalled & full).sum((1, 2)), missing.expand(len(BRANCHES))]
        self.diag_counts += torch.stack(counts, dim=1).to(self.diag_counts)

    def diagnostics(self) -> dict[str, float]:
        """Labels recalled by each branch's RLC in the current epoch (paper Fig. 5a); with full
        training labels, their precision (recalled that are true positives) and recall (share of
        the missing positives seen this epoch that were recalled)."""
        out: dict[str, float] = {}
        for k, b in enumerate(BRANCHES):
            recalled, correct, missing = (float(v) for v in self.diag_counts[k])
            out[f"recalled_{b}"] = recalled
            if self.full_labels is not None:
                out[f"recalled_precision_{b}"] = correct / recalled if recalled else 0.0
                out[f"recalled_recall_{b}"] = correct / missing if missing else 0.0
        return out

    def logits(self, outputs: Outputs) -> torch.Tensor:
        if isinstance(outputs, dict):
            return outputs[_PREDICT_KEYS[self.predict_branch]]
        return outputs

    def param_groups(self, head: nn.Module, lr: float) -> list[dict[str, Any]]:
        """One group per module: projections and attention at ``lr``, classifiers at
        ``lr·classifier_lr_scale``; with ``lr_steps`` each group carries its ``step_size``."""
        if not isinstance(head, ComicHead):
            raise TypeError("comic: param_groups expects the head built by comic.build_head")
        modules: dict[str, nn.Module] = {}
        for b in BRANCHES:
            modules[f"projection.{b}"] = head.projection[b]
            modules[f"classifier.{b}"] = head.classifier[b]
        if head.attention is not None:
            modules["attention"] = head.attention
        groups = []
        for name, module in modules.items():
            params = [p for p in module.parameters() if p.requires_grad]
            if not params:
                continue
            scale = self.classifier_lr_scale if name.startswith("classifier") else 1.0
            group: dict[str, Any] = {"params": params, "lr": lr * scale, "name": name}
            if self.lr_steps != "none":
                group["step_size"] = LR_STEPS[self.lr_steps][name]
            groups.append(group)
        return groups


register_preset("comic-pfm", "comic", mfm_variant="B")
register_preset(
    "comic-code", "comic", mfm_variant="B", balance="irm", lambda_b=1.0, attention="eval_only"
)
