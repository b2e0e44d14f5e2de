"""Base of the methods that are one stateless loss on the logits (BCE, WAN, LS, focal, ASL, Hill)."""

from __future__ import annotations

import torch
from torch import nn

from palt.methods.base import Method, Outputs


class CriterionMethod(Method):
    """A method whose loss is ``self.criterion(logits, targets)``; subclasses set ``criterion``."""

    criterion: nn.Module

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        return self.criterion(self.logits(outputs), targets)
