"""The method contract: a loss plus whatever else a method needs, behind hooks the trainer calls.

A *method* is what a user picks by name (``bce``, ``asl``, ``db-focal``, ``csl``, ``plm``,
``comic`` …). The engine knows methods only through the hooks below, called in this order::

    method = palt.methods.create(name, **params)      # hyper-parameters, validated here
    head = method.build_head(in_features, num_classes) # the trainable part after the backbone
    method.setup(context)                               # training-label statistics, once
    stage = method.prior_stage()                        # optional extra stage (CSL's prior)
    for epoch in range(epochs):                         # 0-based epoch numbers
        method.on_epoch_start(epoch)
        for inputs, targets, indices in loader:
            outputs = head(backbone(inputs))            # a tensor or a dict of tensors
            loss = method.loss(outputs, targets, indices, epoch)
        method.on_epoch_end(epoch)
    logits = method.logits(outputs)                     # what evaluation and prediction use

All method state (statistics, stored labels, running estimates, counters) lives in registered
buffers of this ``nn.Module``, so ``state_dict()`` holds only tensors, is saved with safetensors,
and resume is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from palt.labels import LabelSet

Outputs = torch.Tensor | dict[str, torch.Tensor]


@dataclass
class TrainContext:
    """What the engine knows at the start of fitting, handed to :meth:`Method.setup`.

    ``train_labels`` are the *observed* training labels (1 / 0 / −1) in dataset row order; the
    ``indices`` passed to :meth:`Method.loss` are row numbers into them. ``full_train_labels``
    (complete labels, when a benchmark made the partial ones itself) serve diagnostics only and
    must never enter a loss.
    """

    train_labels: LabelSet
    epochs: int
    steps_per_epoch: int
    full_train_labels: LabelSet | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageRequest:
    """An extra training stage a method needs before the main one (e.g. CSL's prior).

    The engine trains ``method`` (created with ``params``) from scratch for ``epochs`` epochs
    (``None``: as many as the main run), predicts every training sample in eval mode and passes
    the sigmoid probabilities (N×C ``float32`` tensor, training-row order) to
    :meth:`Method.consume_stage`.
    """

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None


class Method(nn.Module):
    """Base class of every palt method. Subclasses set ``name`` and override :meth:`loss`."""

    name: ClassVar[str] = ""
    #: the loss this method needs the class-aware sampler for (DB); ``None`` = plain shuffling
    default_sampler: ClassVar[str | None] = None

    def build_head(self, in_features: int, num_classes: int) -> nn.Module:
        """The trainable module on top of the backbone features. Default: one linear layer."""
        return nn.Linear(in_features, num_classes)

    def setup(self, context: TrainContext) -> None:  # noqa: B027 - optional hook
        """Compute training-label statistics (as buffers). Called once before training."""

    def prior_stage(self) -> StageRequest | None:
        """An extra stage to run before training, or ``None``."""
        return None

    def consume_stage(self, train_probabilities: torch.Tensor) -> None:
        """Receive the extra stage's eval-mode training-set probabilities."""
        raise NotImplementedError(f"method {self.name!r} requested no extra stage")

    def on_epoch_start(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Called before the first batch of every (0-based) epoch."""

    def on_epoch_end(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Called after the last batch of every (0-based) epoch."""

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        """Scalar training loss for one batch.

        ``targets``: B×C integer tensor in {1, 0, −1}; ``indices``: B training-row numbers;
        ``epoch``: 0-based epoch. Called in training mode only.
        """
        raise NotImplementedError

    def logits(self, outputs: Outputs) -> torch.Tensor:
        """The B×C logits used for evaluation and prediction."""
        if isinstance(outputs, dict):
            return outputs["logits"]
        return outputs

    def param_groups(self, head: nn.Module, lr: float) -> list[dict[str, Any]]:
        """Optimiser parameter groups of the head (override for per-module learning rates)."""
        return [{"params": [p for p in head.parameters() if p.requires_grad], "lr": lr}]

    def diagnostics(self) -> dict[str, float]:
        """Numbers worth logging per epoch (e.g. recalled labels); empty by default."""
        return {}

    def hyperparameters(self) -> dict[str, Any]:
        """The resolved hyper-parameters, for the run's ``config.yaml``."""
        return dict(getattr(self, "_params", {}))
