"""Class-aware Selective Loss with P-ASL as a method: ``csl`` and the presets ``csl-ignore``,
``csl-negative``, ``csl-selective`` (Ben-Baruch et al., CVPR 2022). See ``docs/methods/csl.md``.

The selective mode needs a class prior. ``prior="stage"`` (default) asks the engine for a first
stage that trains an Ignore-mode model and hands over its eval-mode training-set probabilities;
the prior is their column mean. ``prior="annotations"`` is the naive estimate from the observed
labels; a sequence of C numbers is used as given; ``None`` disables the prior rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from palt.losses.csl import PartialSelectiveLoss
from palt.methods.base import Method, Outputs, StageRequest, TrainContext
from palt.methods.registry import register, register_preset


def annotation_prior(pos_counts: torch.Tensor, neg_counts: torch.Tensor) -> torch.Tensor:
    """Naive prior n_c / (n_c + m_c): the positive fraction among annotated entries (0 if none)."""
    total = pos_counts + neg_counts
    return torch.where(total > 0, pos_counts / total.clamp_min(1), torch.zeros_like(total))


@register
class ClassAwareSelective(Method):
    """P-ASL with the CSL modes ``ignore``, ``negative``, ``ignore_normalize``, ``selective``."""

    name = "csl"

    def __init__(
        self,
        mode: str = "selective",
        gamma_pos: float = 0.0,
        gamma_neg: float = 1.0,
        gamma_unann: float = 4.0,
        alpha_pos: float = 1.0,
        alpha_neg: float = 1.0,
        alpha_unann: float = 1.0,
        clip: float = 0.0,
        eps: float = 1e-8,
        prior: str | Sequence[float] | torch.Tensor | None = "stage",
        prior_threshold: float | None = 0.5,
        likelihood_topk: int = 5,
        prior_epochs: int | None = None,
        detach_focusing: bool = True,
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        if isinstance(prior, str) and prior not in ("stage", "annotations"):
            raise ValueError(
                f"prior must be 'stage', 'annotations', None or C numbers, got {prior!r}"
            )
        if prior_epochs is not None and prior_epochs < 1:
            raise ValueError(f"prior_epochs must be ≥ 1 or None, got {prior_epochs}")
        self.criterion = PartialSelectiveLoss(
            mode=mode,
            gamma_pos=gamma_pos,
            gamma_neg=gamma_neg,
            gamma_unann=gamma_unann,
            alpha_pos=alpha_pos,
            alpha_neg=alpha_neg,
            alpha_unann=alpha_unann,
            clip=clip,
            eps=eps,
            prior_threshold=prior_threshold,
            likelihood_topk=likelihood_topk,
            detach_focusing=detach_focusing,
            reduction=reduction,
        )
        self.mode = mode
        self.prior_source = prior if isinstance(prior, str) or prior is None else "explicit"
        if self.prior_source == "explicit":
            self.criterion.set_prior(torch.as_tensor(prior, dtype=torch.float32))
        self._stage_params = {
            "mode": "ignore",
            "gamma_pos": gamma_pos,
            "gamma_neg": gamma_neg,
            "alpha_pos": alpha_pos,
            "alpha_neg": alpha_neg,
            "clip": clip,
            "eps": eps,
            "detach_focusing": detach_focusing,
            "reduction": reduction,
            "prior": None,
        }
        self._prior_epochs = prior_epochs

    @property
    def _needs_prior(self) -> bool:
        return self.mode == "selective" and self.prior_source is not None

    def setup(self, context: TrainContext) -> None:
        labels = context.train_labels
        if self.prior_source == "annotations":
            pos = torch.from_numpy(labels.positive_counts()).double()
            neg = torch.from_numpy(labels.negative_counts()).double()
            self.criterion.set_prior(annotation_prior(pos, neg))
        elif self.prior_source == "explicit" and self.criterion.prior.numel() != labels.n_classes:
            raise ValueError(
                f"csl: prior has {self.criterion.prior.numel()} values but the training labels "
                f"have {labels.n_classes} classes"
            )

    def prior_stage(self) -> StageRequest | None:
        """Stage 1 of CSL: an Ignore-mode P-ASL model (same γ+, γ−, α, margin) when selective."""
        if self.mode == "selective" and self.prior_source == "stage":
            return StageRequest("csl", dict(self._stage_params), epochs=self._prior_epochs)
        return None

    def consume_stage(self, train_probabilities: torch.Tensor) -> None:
        """Prior = mean predicted probability per class over the training images (N×C)."""
        if self.prior_stage() is None:
            super().consume_stage(train_probabilities)
        probs = torch.as_tensor(train_probabilities)
        if probs.ndim != 2 or probs.shape[0] == 0:
            raise ValueError(
                f"csl: expected an N×C matrix of training probabilities, got {tuple(probs.shape)}"
            )
        self.criterion.set_prior(probs.double().mean(dim=0))

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        if self._needs_prior and not self.criterion.has_prior:
            raise RuntimeError(
                f"csl: selective mode with prior={self.prior_source!r} has no prior yet "
                "(run the prior stage and call consume_stage, or call setup)"
            )
        return self.criterion(self.logits(outputs), targets)


register_preset("csl-ignore", "csl", mode="ignore")
register_preset("csl-negative", "csl", mode="negative")
register_preset("csl-selective", "csl", mode="selective")
