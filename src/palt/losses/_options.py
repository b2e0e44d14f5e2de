"""Option checks shared by the baseline losses: unknown-label policies and number ranges."""

from __future__ import annotations

import math

import torch

from palt.losses._common import TargetMasks

#: what a loss without its own notion of unknown labels does with them
UNKNOWN_POLICIES: tuple[str, ...] = ("negative", "ignore")
#: the BCE policies of CSL's ``partial_loss_mode`` (``ignore_normalize`` = Durand et al. 2019)
BCE_POLICIES: tuple[str, ...] = ("negative", "ignore", "ignore_normalize")


def check_policy(unknown: str, allowed: tuple[str, ...] = UNKNOWN_POLICIES) -> str:
    if unknown not in allowed:
        raise ValueError(f"unknown must be one of {allowed}, got {unknown!r}")
    return unknown


def check_number(
    name: str,
    value: float,
    low: float = 0.0,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float, or a ``ValueError`` naming the parameter and the allowed range."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if math.isnan(x) or too_low or too_high:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")
    return x


def negatives(masks: TargetMasks, unknown: str) -> torch.Tensor:
    """Mask of entries trained as negatives: annotated ones, plus unknown ones if assumed negative."""
    return masks.neg + masks.unk if unknown == "negative" else masks.neg


def durand_row_weights(masks: TargetMasks) -> torch.Tensor:
    """B×1 weights g_i = 1/(1 + #annotated_i) + 1 (Durand et al. 2019 with α = β = 1, CSL's code)."""
    annotated = (masks.pos + masks.neg).sum(dim=1, keepdim=True)
    return 1.0 / (1.0 + annotated) + 1.0
