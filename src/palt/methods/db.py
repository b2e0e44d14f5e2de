"""Distribution-Balanced loss family as methods: ``db``, ``db-focal``, ``r-bce-focal``,
``ntr-focal``, ``cb-focal`` (Wu et al., ECCV 2020). See ``docs/methods/db.md``."""

from __future__ import annotations

import torch

from palt.losses.db import DistributionBalancedLoss
from palt.methods.base import Method, Outputs, TrainContext
from palt.methods.registry import register, register_preset

SAMPLERS: tuple[str | None, ...] = ("class_aware", None)


@register
class DistributionBalanced(Method):
    """DB loss with class statistics from the observed training labels.

    ``db`` = R + NTR without focal; the presets switch the pieces (``db-focal`` is the paper's
    DB). ``unknown="negative"`` (default) treats unknown entries as negatives, as DB was run on
    the PLT benchmarks of COMIC (missing positives stored as 0); ``"ignore"`` drops them, which
    suits benchmarks with annotated negatives. ``sampler`` is the sampler the engine should use by default (``"class_aware"`` for the
    DB family, as in the paper's configs; ``None`` = plain shuffling).
    """

    name = "db"
    default_sampler = "class_aware"

    def __init__(
        self,
        reweight: str | None = "rebalance",
        ntr: bool = True,
        focal: bool = False,
        alpha: float = 0.1,
        beta: float = 10.0,
        mu: float = 0.2,
        kappa: float = 0.05,
        neg_scale: float = 2.0,
        gamma: float = 2.0,
        balance_param: float = 2.0,
        cb_beta: float = 0.9,
        cb_mode: str = "average_w",
        unknown: str = "negative",
        reduction: str = "mean",
        sampler: str | None = "class_aware",
    ) -> None:
        super().__init__()
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        self.default_sampler = sampler  # type: ignore[misc]
        self.criterion = DistributionBalancedLoss(
            reweight=reweight,
            ntr=ntr,
            focal=focal,
            alpha=alpha,
            beta=beta,
            mu=mu,
            kappa=kappa,
            neg_scale=neg_scale,
            gamma=gamma,
            balance_param=balance_param,
            cb_beta=cb_beta,
            cb_mode=cb_mode,
            unknown=unknown,
            reduction=reduction,
        )
        self.unknown = unknown

    def setup(self, context: TrainContext) -> None:
        """n_c = observed positives; m_c = annotated negatives (all non-positives if unknown
        entries are treated as negatives)."""
        labels = context.train_labels
        pos = labels.positive_counts()
        neg = labels.negative_counts() if self.unknown == "ignore" else labels.n_samples - pos
        self.criterion.set_statistics(torch.from_numpy(pos), torch.from_numpy(neg))

    def loss(
        self, outputs: Outputs, targets: torch.Tensor, indices: torch.Tensor, epoch: int
    ) -> torch.Tensor:
        return self.criterion(self.logits(outputs), targets)


register_preset("db-focal", "db", focal=True)
register_preset("r-bce-focal", "db", ntr=False, focal=True)
register_preset("ntr-focal", "db", reweight=None, focal=True)
register_preset("cb-focal", "db", reweight="cb", ntr=False, focal=True, sampler=None)
