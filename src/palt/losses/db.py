"""Distribution-Balanced loss and its ablations (Wu et al., ECCV 2020, arXiv 2007.09654).

Per entry (sample k, class i), with z̃ = z + s the shifted logit and λ the negative scale:

* positive: ℓ = w_{k,i} · log(1 + e^{−z̃})
* negative: ℓ = (w_{k,i} / λ) · log(1 + e^{λ·z̃})
* with focal: ℓ ← κ_f · (1 − p_t)^γ · ℓ, p_t = exp(−BCE of the transformed logit)
  (σ(z̃) for positives, σ(−λz̃) for negatives); the focusing factor is *not* detached.

Pieces (each can be switched off, which gives the paper's ablations):

* **R** (re-balanced weights), ``reweight="rebalance"``: r_{k,i} = (1/n_i) / Σ_{j∈P_k} 1/n_j,
  w = α + σ(β·(r − μ)) for every class i of the sample (positives and negatives alike).
* **NTR** (negative-tolerant regularisation), ``ntr=True``: s_i = (κ/λ)·logit(p_i) with the class
  prior p_i, and the negative scale λ. ``ntr=False`` means s = 0 and λ = 1 (plain BCE terms).
* **CB** (class-balanced, Cui et al. 2019), ``reweight="cb"``: w = (1 − β_cb)/(1 − β_cb^n).
* ``reweight="inv"`` / ``"sqrt_inv"``: w_i = 1/p_i or its square root (N/n_i with full labels).

Partial labels (palt's fix of the reference's ``partial`` mode, spec §1.10):

* n_i are the *observed* positive counts, P_k the sample's *observed* positives — exactly the
  quantities the class-aware sampler (``palt.data.samplers``) draws by, so r is still the ratio
  of class-level to instance-level sampling frequency. Unknown entries never enter Σ_{j∈P_k}.
* the prior is p_i = n_i / (n_i + m_i) with m_i the annotated negatives (= n_i/N with full
  labels), clamped to [1/(2(n_i+m_i)), 1 − 1/(2(n_i+m_i))]; 0.5 when class i has no annotation.
* a sample with no observed positive has no positive set to weight by: its weights are 1
  (rebalance and the per-sample CB modes). A class with n_i = 0 has 1/n_i := 0 (the sampler
  never visits it), so r = 0 for its entries.
* ``unknown="ignore"`` (default) drops unknown entries from the loss; ``"negative"`` treats them
  as negatives (then pass m_i = N − n_i).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from palt.losses._common import check_reduction, prepare, reduce
from palt.losses._options import UNKNOWN_POLICIES, check_policy, negatives
from palt.losses._powers import power
from palt.losses._resizable import ResizableBuffers

REWEIGHTS: tuple[str | None, ...] = (None, "rebalance", "cb", "inv", "sqrt_inv")
CB_MODES: tuple[str, ...] = ("by_class", "average_n", "average_w", "min_n")


def class_prior(pos_counts: torch.Tensor, neg_counts: torch.Tensor) -> torch.Tensor:
    """p_i = n_i / (n_i + m_i), clamped half a count away from 0 and 1; 0.5 without annotations."""
    pos, total = pos_counts.double(), (pos_counts + neg_counts).double()
    half = 0.5 / total.clamp_min(1.0)
    p = torch.where(total > 0, pos / total.clamp_min(1.0), torch.full_like(pos, 0.5))
    return torch.minimum(torch.maximum(p, half), 1.0 - half)


def logit_shift(
    pos_counts: torch.Tensor, neg_counts: torch.Tensor, kappa: float, neg_scale: float
) -> torch.Tensor:
    """NTR's class-wise logit shift s_i = (κ/λ)·b̂_i, b̂_i = logit(p_i) = −log(1/p_i − 1)."""
    p = class_prior(pos_counts, neg_counts)
    return (kappa / neg_scale) * torch.log(p / (1.0 - p))


def _inverse_counts(pos_counts: torch.Tensor) -> torch.Tensor:
    n = pos_counts.double()
    return torch.where(n > 0, 1.0 / n.clamp_min(1.0), torch.zeros_like(n))


def rebalance_weights(
    positives: torch.Tensor, pos_counts: torch.Tensor, alpha: float, beta: float, mu: float
) -> torch.Tensor:
    """Re-balanced weights r̂ = α + σ(β·(r − μ)), r_{k,i} = (1/n_i) / Σ_{j∈P_k} 1/n_j.

    ``positives``: B×C 0/1 mask of the samples' (observed) positives; the result has its dtype.
    Rows with an empty positive set get weight 1.
    """
    inv = _inverse_counts(pos_counts)
    repeat = positives.double() @ inv
    empty = repeat <= 0
    step = (beta / torch.where(empty, torch.ones_like(repeat), repeat)).to(positives.dtype)
    r_scaled = inv.to(positives.dtype) * step.unsqueeze(1)  # β·r
    weights = torch.sigmoid(r_scaled - beta * mu).add_(alpha)
    if bool(empty.any()):
        weights[empty] = 1.0
    return weights


def _cb(n: torch.Tensor, cb_beta: float) -> torch.Tensor:
    return (1.0 - cb_beta) / (1.0 - cb_beta ** n.clamp_min(1.0))


def class_balanced_weights(
    positives: torch.Tensor, pos_counts: torch.Tensor, cb_beta: float, mode: str
) -> torch.Tensor:
    """Class-balanced weights (1 − β)/(1 − β^n) (Cui et al., CVPR 2019), B×C, dtype of
    ``positives``.

    ``by_class``: n = n_i per class. Per sample, over its positive set P_k: ``average_w`` the mean
    of the class weights, ``average_n`` the weight of the mean n, ``min_n`` the weight of the
    smallest n. n is clamped to ≥ 1; rows with an empty positive set get weight 1.
    """
    n = pos_counts.double()
    pos = positives.double()
    b = pos.shape[0]
    if mode == "by_class":
        return _cb(n, cb_beta).to(positives.dtype).expand(b, -1)
    size = pos.sum(dim=1, keepdim=True)
    if mode == "average_w":
        w = (pos @ _cb(n, cb_beta)).unsqueeze(1) / size.clamp_min(1.0)
    elif mode == "average_n":
        w = _cb((pos @ n).unsqueeze(1) / size.clamp_min(1.0), cb_beta)
    elif mode == "min_n":
        big = torch.full_like(pos, float("inf"))
        w = _cb(torch.where(pos > 0, n.expand_as(pos), big).amin(dim=1, keepdim=True), cb_beta)
    else:
        raise ValueError(f"cb_mode must be one of {CB_MODES}, got {mode!r}")
    w = torch.where(size > 0, w, torch.ones_like(w))
    return w.to(positives.dtype).expand(b, n.shape[0])


def check_db_params(
    reweight: str | None,
    alpha: float,
    beta: float,
    kappa: float,
    neg_scale: float,
    gamma: float,
    cb_beta: float,
    cb_mode: str,
    unknown: str,
    reduction: str,
) -> None:
    """Validate the hyper-parameters of :func:`distribution_balanced_loss` up front."""
    if reweight not in REWEIGHTS:
        raise ValueError(f"reweight must be one of {REWEIGHTS}, got {reweight!r}")
    if cb_mode not in CB_MODES:
        raise ValueError(f"cb_mode must be one of {CB_MODES}, got {cb_mode!r}")
    check_policy(unknown, UNKNOWN_POLICIES)
    if neg_scale <= 0:
        raise ValueError(f"neg_scale (λ) must be > 0, got {neg_scale}")
    if gamma < 0:
        raise ValueError(f"gamma (focal γ) must be ≥ 0, got {gamma}")
    if not 0.0 <= cb_beta < 1.0:
        raise ValueError(f"cb_beta must be in [0, 1), got {cb_beta}")
    if alpha < 0 or beta < 0 or kappa < 0:
        raise ValueError(f"alpha, beta and kappa must be ≥ 0, got {alpha}, {beta}, {kappa}")
    check_reduction(reduction)


def distribution_balanced_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pos_counts: torch.Tensor,
    neg_counts: torch.Tensor,
    *,
    reweight: str | None = "rebalance",
    ntr: bool = True,
    focal: bool = True,
    alpha: float = 0.1,
    beta: float = 10.0,
    mu: float = 0.2,
    kappa: float = 0.05,
    neg_scale: float = 2.0,
    gamma: float = 2.0,
    balance_param: float = 2.0,
    cb_beta: float = 0.9,
    cb_mode: str = "average_w",
    unknown: str = "ignore",
    reduction: str = "mean",
) -> torch.Tensor:
    """DB-Focal loss and its ablations; see the module docstring for the formula.

    Defaults are the paper's COCO-MLT configuration (α=0.1, β=10, μ=0.2, κ=0.05, λ=2, γ=2,
    κ_f=``balance_param``=2); VOC-MLT used μ=0.3, λ=5. As in the reference code,
    ``balance_param`` multiplies the focal branch only. ``reduction="mean"`` (Σ/(B·C), ignored
    entries counted as zeros) is the reference's; ``"annotated_mean"`` divides by the number of
    entries that take part. The caller's logits are never modified.
    """
    check_db_params(
        reweight, alpha, beta, kappa, neg_scale, gamma, cb_beta, cb_mode, unknown, reduction
    )
    z, masks = prepare(logits, targets)
    c = z.shape[1]
    if pos_counts.shape != (c,) or neg_counts.shape != (c,):
        raise ValueError(
            f"pos_counts {tuple(pos_counts.shape)} and neg_counts {tuple(neg_counts.shape)} "
            f"must both have shape ({c},) to match the logits"
        )
    pos_counts, neg_counts = pos_counts.to(z.device), neg_counts.to(z.device)
    lam = neg_scale if ntr else 1.0
    pos = masks.pos.to(z.dtype)
    # per-entry factor: 1 for positives, 1/λ for negatives, 0 for ignored entries
    coef = pos + masks.neg.to(z.dtype) / lam
    if unknown == "negative":
        coef = coef + masks.unk.to(z.dtype) / lam
    # BCE of the transformed logit is softplus(scale·z̃): −1 for positives, λ for negatives
    scale = lam - (lam + 1.0) * pos

    if reweight == "rebalance":
        coef = coef * rebalance_weights(pos, pos_counts, alpha, beta, mu)
    elif reweight == "cb":
        coef = coef * class_balanced_weights(pos, pos_counts, cb_beta, cb_mode)
    elif reweight in ("inv", "sqrt_inv"):
        w = 1.0 / class_prior(pos_counts, neg_counts)
        coef = coef * (w.sqrt() if reweight == "sqrt_inv" else w).to(z.dtype)

    if ntr:
        z = z + logit_shift(pos_counts, neg_counts, kappa, neg_scale).to(z.dtype)
    u = scale * z
    loss = coef * F.softplus(u)
    if focal:  # 1 − p_t = 1 − exp(−BCE) = σ(u)
        loss = (balance_param * power(torch.sigmoid(u), gamma)) * loss
    counted = masks.pos + negatives(masks, unknown) if reduction == "annotated_mean" else None
    return reduce(loss, reduction, counted)


class DistributionBalancedLoss(ResizableBuffers):
    """Module form of :func:`distribution_balanced_loss` with the class statistics as buffers.

    ``pos_counts`` n_i: observed positives per class; ``neg_counts`` m_i: annotated negatives per
    class (N − n_i with full labels or with ``unknown="negative"``). Both may be empty at
    construction and set later with :meth:`set_statistics`.
    """

    resizable = ("pos_counts", "neg_counts")
    pos_counts: torch.Tensor
    neg_counts: torch.Tensor

    def __init__(
        self,
        pos_counts: torch.Tensor | None = None,
        neg_counts: torch.Tensor | None = None,
        *,
        reweight: str | None = "rebalance",
        ntr: bool = True,
        focal: bool = True,
        alpha: float = 0.1,
        beta: float = 10.0,
        mu: float = 0.2,
        kappa: float = 0.05,
        neg_scale: float = 2.0,
        gamma: float = 2.0,
        balance_param: float = 2.0,
        cb_beta: float = 0.9,
        cb_mode: str = "average_w",
        unknown: str = "ignore",
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        check_db_params(
            reweight, alpha, beta, kappa, neg_scale, gamma, cb_beta, cb_mode, unknown, reduction
        )
        self.options = dict(
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
        self.register_buffer("pos_counts", torch.zeros(0))
        self.register_buffer("neg_counts", torch.zeros(0))
        if pos_counts is not None or neg_counts is not None:
            if pos_counts is None or neg_counts is None:
                raise ValueError("give both pos_counts and neg_counts, or neither")
            self.set_statistics(pos_counts, neg_counts)

    def set_statistics(self, pos_counts: torch.Tensor, neg_counts: torch.Tensor) -> None:
        """Set n_i and m_i (1-D, same length, non-negative)."""
        pos = torch.as_tensor(pos_counts, dtype=torch.float32)
        neg = torch.as_tensor(neg_counts, dtype=torch.float32)
        if pos.ndim != 1 or pos.shape != neg.shape:
            raise ValueError(
                f"pos_counts {tuple(pos.shape)} and neg_counts {tuple(neg.shape)} "
                "must be 1-D of the same length"
            )
        if bool((pos < 0).any()) or bool((neg < 0).any()):
            raise ValueError("pos_counts and neg_counts must be non-negative")
        self.pos_counts = pos.to(self.pos_counts.device)
        self.neg_counts = neg.to(self.neg_counts.device)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.pos_counts.numel() == 0:
            raise RuntimeError(
                "DistributionBalancedLoss has no class statistics; call set_statistics first"
            )
        return distribution_balanced_loss(
            logits, targets, self.pos_counts, self.neg_counts, **self.options
        )
