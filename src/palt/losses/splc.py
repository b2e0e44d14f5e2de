"""Self-Paced Loss Correction, SPLC (Zhang et al., arXiv 2112.07368)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from palt.losses._common import check_reduction, prepare, reduce
from palt.losses._options import check_number, check_policy, negatives
from palt.losses.focal import power, signed


def splc_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    epoch: int,
    margin: float = 1.0,
    tau: float = 0.6,
    change_epoch: int = 1,
    gamma: float = 2.0,
    correct_annotated_negatives: bool = False,
    unknown: str = "negative",
    reduction: str = "sum",
) -> torch.Tensor:
    """Focal BCE with a margin on positives and batch-wise correction of confident negatives.

    z' = z − m·[y=1] (m = 1), p = σ(z'). From 0-based ``epoch`` ≥ ``change_epoch`` (1) every
    correctable negative with p > τ (0.6) is trained as a positive in this batch (nothing is
    stored; the margin is not applied to these pseudo-positives). Then

    ℓ = [pos]·(1 − p)^γ·(−log p) + [neg]·p^γ·(−log(1 − p)), γ = 2, focal weight not detached.

    Correctable: unknown entries trained as negatives. The paper's data has no annotated
    negatives; ``correct_annotated_negatives=True`` also corrects those (the reference code's
    behaviour when 0 means "missing"). With ``unknown='ignore'`` unknown entries are dropped.
    Reduction default **sum** (reference code).
    """
    check_policy(unknown)
    check_reduction(reduction)
    margin = check_number("margin", margin, -1e6, 1e6)
    tau = check_number("tau", tau, 0.0, 1.0)
    gamma = check_number("gamma", gamma)
    z, m = prepare(logits, targets)
    neg = negatives(m, unknown)
    z = z - margin * m.pos
    if epoch >= change_epoch:
        correctable = neg if correct_annotated_negatives else neg * m.unk
        flipped = correctable * (torch.sigmoid(z.detach()) > tau).to(z.dtype)
        pos, neg = m.pos + flipped, neg - flipped
    else:
        pos = m.pos
    zs = signed(z, pos)
    loss = (pos + neg) * power(torch.sigmoid(-zs), gamma) * F.softplus(-zs)
    return reduce(loss, reduction, pos + neg)


class SPLCLoss(nn.Module):
    """Module form of :func:`splc_loss`; ``forward(logits, targets, epoch)``."""

    def __init__(
        self,
        margin: float = 1.0,
        tau: float = 0.6,
        change_epoch: int = 1,
        gamma: float = 2.0,
        correct_annotated_negatives: bool = False,
        unknown: str = "negative",
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        self.margin = check_number("margin", margin, -1e6, 1e6)
        self.tau = check_number("tau", tau, 0.0, 1.0)
        self.change_epoch = int(check_number("change_epoch", change_epoch))
        self.gamma = check_number("gamma", gamma)
        self.correct_annotated_negatives = bool(correct_annotated_negatives)
        self.unknown = check_policy(unknown)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, epoch: int) -> torch.Tensor:
        return splc_loss(
            logits,
            targets,
            epoch,
            self.margin,
            self.tau,
            self.change_epoch,
            self.gamma,
            self.correct_annotated_negatives,
            self.unknown,
            self.reduction,
        )
