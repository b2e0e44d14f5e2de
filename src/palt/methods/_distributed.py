"""Epoch-end synchronisation of method statistics across data-parallel processes."""

from __future__ import annotations

import torch
import torch.distributed as dist


def all_reduce_sum_(*tensors: torch.Tensor) -> None:
    """Sum each tensor in place over all processes; a no-op outside a process group.

    Methods that accumulate statistics from their own shard of every epoch (PLM's histograms,
    pseudo-stat's running sums) call this in ``on_epoch_end`` so that every process applies
    the same update.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    for t in tensors:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
