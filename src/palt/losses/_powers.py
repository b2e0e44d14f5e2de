"""x^γ for focusing factors: the usual small integer γ as products, which are faster than ``pow``."""

from __future__ import annotations

import torch


def power(base: torch.Tensor, gamma: float) -> torch.Tensor | float:
    """``base ** gamma``; 1.0 (a float) for γ = 0; products for γ ∈ {1, 2, 3, 4}."""
    if gamma == 0:
        return 1.0
    if gamma == 1:
        return base
    if gamma in (2, 3, 4):
        square = base * base
        return {2: square, 3: square * base, 4: square * square}[int(gamma)]
    return base.pow(gamma)
