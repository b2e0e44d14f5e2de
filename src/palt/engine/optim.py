"""Optimiser and learning-rate schedule from the config.

Parameter groups: the backbone's parameters (lr = ``optim.lr``) and the head's groups from
``Method.param_groups`` (which may carry their own ``lr`` and ``step_size``). Every group is split
into weights (decayed) and biases / normalisation parameters (1-D tensors, not decayed).

Schedule factor f(s) multiplying each group's initial lr at optimiser step s (E = steps per
epoch, e = ⌊s/E⌋, W = warm-up steps, T = total steps):

* warm-up (step/cosine/none): f = (s+1)/W for s < W;
* ``step``: f = γ^⌊e / step_size⌋;  a group with its own ``step_size`` k: f = 0.1^⌊e/k⌋
  (COMIC's per-module StepLR), whatever the schedule name;
* ``cosine``: f = r + (1−r)·½(1 + cos(π·(s−W)/(T−W))), r = ``min_lr_ratio``;
* ``onecycle`` (Smith & Topin 2019, cosine annealing as in PyTorch's OneCycleLR): from 1/d up to
  1 over the first ``pct_start``·T steps, then down to 1/(d·d_final).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from palt.engine.config import OptimConfig, ScheduleConfig


def split_decay(groups: list[dict[str, Any]], weight_decay: float) -> list[dict[str, Any]]:
    """Each group → (weights with ``weight_decay``, 1-D params with 0); empty parts dropped."""
    out = []
    for group in groups:
        params = [p for p in group["params"] if p.requires_grad]
        extra = {k: v for k, v in group.items() if k != "params"}
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        if decay:
            out.append({**extra, "params": decay, "weight_decay": weight_decay})
        if no_decay:
            out.append({**extra, "params": no_decay, "weight_decay": 0.0})
    return out


def build_optimizer(
    cfg: OptimConfig, backbone: nn.Module, head_groups: list[dict[str, Any]]
) -> torch.optim.Optimizer:
    groups = list(head_groups)
    backbone_params = [p for p in backbone.parameters() if p.requires_grad]
    if backbone_params:
        groups.insert(0, {"params": backbone_params, "lr": cfg.lr, "name": "backbone"})
    groups = split_decay(groups, cfg.weight_decay)
    if not groups:
        raise ValueError("nothing to train: the model has no trainable parameters")
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    kind = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    betas = (cfg.betas[0], cfg.betas[1])
    try:  # the fused kernel: ~5× faster on CPU for COMIC's 8.6 M-parameter head
        return kind(groups, lr=cfg.lr, betas=betas, fused=True)
    except (RuntimeError, ValueError):  # a device or dtype the fused kernel does not support
        return kind(groups, lr=cfg.lr, betas=betas)


def lr_factor(
    cfg: ScheduleConfig, step: int, steps_per_epoch: int, total_steps: int, step_size: int | None
) -> float:
    """The schedule factor f(step) defined in the module docstring."""
    if cfg.name == "onecycle":
        up = max(1, int(cfg.pct_start * total_steps))
        lo, hi, end = 1.0 / cfg.div_factor, 1.0, 1.0 / (cfg.div_factor * cfg.final_div_factor)
        if step < up:
            return _cos(lo, hi, step / up)
        return _cos(hi, end, min(1.0, (step - up) / max(1, total_steps - up)))
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    if step < warm:
        return (step + 1) / warm
    epoch = step // max(1, steps_per_epoch)
    if step_size:
        return 0.1 ** (epoch // step_size)
    if cfg.name == "step":
        return cfg.gamma ** (epoch // cfg.step_size)
    if cfg.name == "cosine":
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def _cos(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))


def build_scheduler(
    cfg: ScheduleConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per optimiser step, one factor function per parameter group."""
    total = steps_per_epoch * epochs

    def factor_of(step_size: int | None) -> Callable[[int], float]:
        return lambda step: lr_factor(cfg, step, steps_per_epoch, total, step_size)

    lambdas = [factor_of(g.get("step_size")) for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


class EMA:
    """Exponential moving average of a module's weights: θ̄ ← d·θ̄ + (1−d)·θ; buffers copied."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        import copy

        if not 0.0 < decay < 1.0:
            raise ValueError(f"optim.ema: decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for avg, p in zip(self.module.parameters(), module.parameters(), strict=True):
            avg.lerp_(p.detach(), 1.0 - self.decay)
        for avg, b in zip(self.module.buffers(), module.buffers(), strict=True):
            avg.copy_(b)
