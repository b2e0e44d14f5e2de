"""Partial asymmetric loss (P-ASL) with Class-aware Selective Loss modes (CSL).

Ben-Baruch et al., "Multi-label Classification with Partial Annotations using Class-aware
Selective Loss", CVPR 2022, arXiv 2110.10955. With p = σ(z), q_m = min(1 − p + m, 1):

    ℓ = −ω · [ α+·[y=1]·(1−p)^{γ+}·log p
             + α−·[y=0]·(1−q_m)^{γ−}·log q_m
             + α_u·[y=−1]·(1−q_m)^{γ_u}·log q_m ]

Logs take the argument clamped at ``eps``; focusing factors are detached (as in the reference;
``detach_focusing=False`` lets gradients through them). ω is 1 for annotated entries; for
unknown entries it depends on the mode:

* ``negative``: ω = 1 (unknown = negative with its own γ_u, α_u);
* ``ignore``: ω = 0;
* ``ignore_normalize``: ω = 0, and every entry of sample k is weighted by
  g_k = 1/(1 + #annotated_k) + 1 (Durand et al. 2019 with α = β = 1, as in the reference);
* ``selective``: ω = 0 for unknown entries of classes whose prior exceeds η
  (``prior_threshold``), and for the K·B unknown entries of the batch with the highest
  predicted probability (``likelihood_topk`` K, chosen batch-globally among *all* unknown
  entries, including those already ignored by the prior); ω = 1 for the others.

Reduction: the reference sums over the B·C entries (``reduction="sum"``).
"""

from __future__ import annotations

import torch

from palt.losses._common import check_reduction, prepare, reduce
from palt.losses._options import durand_row_weights
from palt.losses._powers import power
from palt.losses._resizable import ResizableBuffers

CSL_MODES: tuple[str, ...] = ("ignore", "negative", "ignore_normalize", "selective")


def selection_weights(
    logits: torch.Tensor,
    unknown: torch.Tensor,
    prior: torch.Tensor | None,
    prior_threshold: float | None,
    likelihood_topk: int,
) -> torch.Tensor:
    """ω of the selective mode, B×C: 0 = ignore, 1 = keep (annotated entries always 1).

    The likelihood rule ranks unknown entries by logit (= by p, descending; the reference ranks
    by q_m ascending, which only differs among ties at q_m = 1 when a margin is used).
    """
    keep = torch.ones_like(logits)
    if prior is not None and prior_threshold is not None:
        frequent = (prior.to(logits.device) > prior_threshold).to(logits.dtype)
        keep = keep - unknown.to(logits.dtype) * frequent
    n_unknown = int(unknown.sum())
    k = min(likelihood_topk * logits.shape[0], n_unknown)
    if k > 0:
        score = logits.detach().masked_fill(unknown <= 0, float("-inf"))
        chosen = torch.topk(score.flatten(), k, sorted=False).indices
        keep.view(-1).index_fill_(0, chosen, 0.0)
    return keep


def _term(alpha: float, mask: torch.Tensor, base: torch.Tensor, gamma: float) -> torch.Tensor:
    return (alpha * mask) * power(base, gamma)


def check_csl_params(
    mode: str,
    gamma_pos: float,
    gamma_neg: float,
    gamma_unann: float,
    clip: float,
    eps: float,
    likelihood_topk: int,
    reduction: str,
) -> None:
    """Validate the hyper-parameters of :func:`partial_selective_loss` up front."""
    if mode not in CSL_MODES:
        raise ValueError(f"mode must be one of {CSL_MODES}, got {mode!r}")
    if min(gamma_pos, gamma_neg, gamma_unann) < 0:
        raise ValueError(
            f"gamma_pos, gamma_neg, gamma_unann must be ≥ 0, got {gamma_pos}, {gamma_neg}, "
            f"{gamma_unann}"
        )
    if not 0.0 <= clip < 1.0:
        raise ValueError(f"clip (margin m) must be in [0, 1), got {clip}")
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1), got {eps}")
    if isinstance(likelihood_topk, bool) or not isinstance(likelihood_topk, int):
        raise ValueError(f"likelihood_topk must be an int ≥ 0, got {likelihood_topk!r}")
    if likelihood_topk < 0:
        raise ValueError(f"likelihood_topk must be ≥ 0, got {likelihood_topk}")
    check_reduction(reduction)


def partial_selective_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    mode: str = "selective",
    gamma_pos: float = 0.0,
    gamma_neg: float = 1.0,
    gamma_unann: float = 4.0,
    alpha_pos: float = 1.0,
    alpha_neg: float = 1.0,
    alpha_unann: float = 1.0,
    clip: float = 0.0,
    eps: float = 1e-8,
    prior: torch.Tensor | None = None,
    prior_threshold: float | None = 0.5,
    likelihood_topk: int = 5,
    detach_focusing: bool = True,
    reduction: str = "sum",
) -> torch.Tensor:
    """P-ASL with the CSL modes; see the module docstring. ``prior``: C class priors or ``None``.

    Defaults: γ+ = 0, γ− = 1, γ_u = 4, η = 0.5, K = 5 (the README's COCO-RPS setting; the
    reference argparse has γ_u = 2 and η = 0.05), m = 0, sum reduction.
    """
    check_csl_params(mode, gamma_pos, gamma_neg, gamma_unann, clip, eps, likelihood_topk, reduction)
    z, masks = prepare(logits, targets)
    if prior is not None and prior.shape != (z.shape[1],):
        raise ValueError(f"prior has shape {tuple(prior.shape)}, expected ({z.shape[1]},)")
    pos, neg, unk = (m.to(z.dtype) for m in masks)
    if mode == "selective":
        unk = unk * selection_weights(z, unk, prior, prior_threshold, likelihood_topk)
    elif mode in ("ignore", "ignore_normalize"):
        unk = None  # ω = 0: exactly zero loss and gradient

    # x = p for positives, q_m = min(1 − p + m, 1) otherwise; 1 − p computed as σ(−z)
    sign = 2.0 * pos - 1.0
    x = torch.sigmoid(sign * z)
    if clip > 0:
        x = torch.where(masks.pos > 0, x, (x + clip).clamp(max=1.0))
    base = 1.0 - x
    if detach_focusing:
        base = base.detach()
    # ω·α·(focusing factor) per entry, one term per label state
    weight = _term(alpha_pos, pos, base, gamma_pos) + _term(alpha_neg, neg, base, gamma_neg)
    if unk is not None:
        weight = weight + _term(alpha_unann, unk, base, gamma_unann)
    if mode == "ignore_normalize":
        weight = weight * durand_row_weights(masks).to(z.dtype)
    loss = -weight * torch.log(x.clamp(min=eps))
    counted = None
    if reduction == "annotated_mean":
        counted = pos + neg + (unk if unk is not None else 0.0)
    return reduce(loss, reduction, counted)


class PartialSelectiveLoss(ResizableBuffers):
    """Module form of :func:`partial_selective_loss`; the class prior is a buffer.

    An empty prior (the default) means "no prior rule". Set it with :meth:`set_prior`.
    """

    resizable = ("prior",)
    prior: torch.Tensor

    def __init__(
        self,
        *,
        mode: str = "selective",
        gamma_pos: float = 0.0,
        gamma_neg: float = 1.0,
        gamma_unann: float = 4.0,
        alpha_pos: float = 1.0,
        alpha_neg: float = 1.0,
        alpha_unann: float = 1.0,
        clip: float = 0.0,
        eps: float = 1e-8,
        prior: torch.Tensor | None = None,
        prior_threshold: float | None = 0.5,
        likelihood_topk: int = 5,
        detach_focusing: bool = True,
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        check_csl_params(
            mode, gamma_pos, gamma_neg, gamma_unann, clip, eps, likelihood_topk, reduction
        )
        self.options = dict(
            mode=mode,
            gamma_pos=gamma_pos,
            gamma_neg=gamma_neg,
            gamma_unann=gamma_unann,
            alpha_pos=alpha_pos,
            alpha_neg=alpha_neg,
            alpha_unann=alpha_unann,
            clip=clip,
            eps=eps,
            prior_threshold=prior_threshold,
            likelihood_topk=likelihood_topk,
            detach_focusing=detach_focusing,
            reduction=reduction,
        )
        self.register_buffer("prior", torch.zeros(0))
        if prior is not None:
            self.set_prior(prior)

    def set_prior(self, prior: torch.Tensor) -> None:
        """Set the C class priors (1-D, finite, in [0, 1])."""
        value = torch.as_tensor(prior, dtype=torch.float32)
        if value.ndim != 1:
            raise ValueError(f"prior must be 1-D (one value per class), got {tuple(value.shape)}")
        if not bool(torch.isfinite(value).all()) or bool(((value < 0) | (value > 1)).any()):
            raise ValueError("prior values must be finite and in [0, 1]")
        self.prior = value.to(self.prior.device)

    @property
    def has_prior(self) -> bool:
        return self.prior.numel() > 0

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        prior = self.prior if self.has_prior else None
        return partial_selective_loss(logits, targets, prior=prior, **self.options)
