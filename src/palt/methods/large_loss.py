"""Large Loss Matters (Kim et al., CVPR 2022): ``ll-r`` (reject), ``ll-ct`` (temporary
correction) and ``ll-cp`` (permanent correction of the stored training labels)."""

from __future__ import annotations

from typing import Any

import torch

from palt.losses._common import check_reduction
from palt.losses._options import check_number
from palt.losses.large_loss import large_loss
from palt.methods._distributed import all_reduce_sum_
from palt.methods.base import Method, Outputs, TrainContext
from palt.methods.registry import register


class _LargeLossMethod(Method):
    """Shared schedule: ``delta_rel`` is Δ_rel in percent per epoch (README grid 0.1 … 0.5)."""

    mode = "reject"

    def __init__(self, delta_rel: float = 0.2, reduction: str = "mean") -> None:
        super().__init__()
        self.delta = check_number("delta_rel", delta_rel, 0.0, 100.0, low_open=True) / 100.0
        self.reduction = check_reduction(reduction)

    def fraction(self, epoch: int) -> float:
        """Share of the batch's B·C entries to modify: (e − 1)·Δ_rel in 1-based epoch e."""
        return min(epoch * self.delta, 1.0)

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        logits = self.logits(outputs)
        return large_loss(logits, targets, self.fraction(epoch), self.mode, self.reduction).loss


@register
class LargeLossReject(_LargeLossMethod):
    """LL-R: unknown entries among the k largest assumed-negative losses get zero loss."""

    name = "ll-r"
    mode = "reject"


@register
class LargeLossTemporary(_LargeLossMethod):
    """LL-Ct: unknown entries among the k largest losses are trained as positives in the batch."""

    name = "ll-ct"
    mode = "correct"


@register
class LargeLossPermanent(_LargeLossMethod):
    """LL-Cp: from the second epoch, k = ⌈B·C·Δ_rel⌉ per batch; unknown entries whose loss is
    above the k-th largest are flipped to positive in the stored training labels for good.

    The stored labels (buffer ``labels``, int8 N×C, training-row order) are what the loss trains
    on, not the loader's targets, so later batches see the flips. :meth:`setup` (re)initialises
    them from the context; to resume, call ``load_state_dict`` after ``setup``. Under data
    parallelism every process flips its own copy and :meth:`on_epoch_end` merges them. The reference
    code never flips (its scheme test compares strings with ``is``); this one does.
    """

    name = "ll-cp"
    mode = "correct"

    def __init__(self, delta_rel: float = 0.2, reduction: str = "mean") -> None:
        super().__init__(delta_rel, reduction)
        self.register_buffer("labels", torch.empty(0, 0, dtype=torch.int8))
        self.register_buffer("flipped", torch.zeros((), dtype=torch.int64))
        self.register_buffer("initial_positives", torch.zeros((), dtype=torch.int64))

    def setup(self, context: TrainContext) -> None:
        dense = context.train_labels.to_dense()
        self.labels = torch.from_numpy(dense).to(torch.int8).to(self.flipped.device)
        self.flipped.zero_()
        self.initial_positives.fill_(int((self.labels == 1).sum()))

    def on_epoch_end(self, epoch: int) -> None:
        """Merge the flips of every data-parallel process (each flipped its own batches)."""
        if self.labels.numel() == 0:
            return
        positive = (self.labels == 1).to(torch.int32)
        all_reduce_sum_(positive)
        self.labels[positive > 0] = 1
        self.flipped.fill_(int((self.labels == 1).sum()) - int(self.initial_positives))

    def fraction(self, epoch: int) -> float:
        return self.delta if epoch >= 1 else 0.0

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        if self.labels.numel() == 0:
            raise RuntimeError("method 'll-cp': setup(context) must run before loss()")
        logits = self.logits(outputs)
        rows = indices.to(self.labels.device).long()
        stored = self.labels[rows]
        if stored.shape != targets.shape:
            raise ValueError(
                f"method 'll-cp': targets {tuple(targets.shape)} do not match the stored labels "
                f"of the batch's indices {tuple(stored.shape)}"
            )
        out = large_loss(
            logits, stored.to(logits.device), self.fraction(epoch), self.mode, self.reduction
        )
        hit_rows, hit_cols = out.above.nonzero(as_tuple=True)
        if hit_rows.numel():
            self.labels[rows[hit_rows.to(rows.device)], hit_cols.to(rows.device)] = 1
            self.flipped += hit_rows.numel()
        return out.loss

    def diagnostics(self) -> dict[str, float]:
        return {"flipped_labels": float(self.flipped)}

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        stored = state_dict.get(prefix + "labels")
        if stored is not None:
            self.labels = torch.empty_like(stored, device=self.flipped.device)
        super()._load_from_state_dict(state_dict, prefix, *args)
