"""Pieces shared by every loss: input checks, target masks and reductions."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

Reduction = Literal["none", "sum", "mean", "batchmean", "annotated_mean"]
REDUCTIONS: tuple[str, ...] = ("none", "sum", "mean", "batchmean", "annotated_mean")


class TargetMasks(NamedTuple):
    """Float masks (same shape as the targets) of positive, negative and unknown entries."""

    pos: torch.Tensor
    neg: torch.Tensor
    unk: torch.Tensor


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def prepare(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, TargetMasks]:
    """Check shapes and values; return fp32 logits and the three target masks.

    The cast to fp32 keeps losses finite under fp16/bf16 autocast (ASL issue #112); fp64 logits
    stay fp64 (``torch.autograd.gradcheck``).
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ")
    if logits.is_floating_point() is False:
        raise TypeError("logits must be a floating-point tensor")
    z = logits if logits.dtype == torch.float64 else logits.float()
    t = targets.to(device=z.device)
    pos, neg, unk = (t == 1), (t == 0), (t == -1)
    if not bool((pos | neg | unk).all()):
        raise ValueError("targets must contain only 1 (positive), 0 (negative) and -1 (unknown)")
    return z, TargetMasks(pos.to(z.dtype), neg.to(z.dtype), unk.to(z.dtype))


def reduce(loss: torch.Tensor, reduction: str, counted: torch.Tensor | None = None) -> torch.Tensor:
    """Reduce a B×C per-entry loss.

    ``none``: the matrix; ``sum``: Σ; ``mean``: Σ/(B·C) (every entry counts, as in DB, LL and
    Cole et al.); ``batchmean``: Σ/B; ``annotated_mean``: Σ/#entries in ``counted`` (entries
    that take part in the loss, e.g. annotated ones), 0 when there are none.
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    if reduction == "batchmean":
        return loss.sum() / max(loss.shape[0], 1)
    if reduction == "annotated_mean":
        n = counted.sum() if counted is not None else torch.tensor(float(loss.numel()))
        return loss.sum() / n.clamp_min(1.0)
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
