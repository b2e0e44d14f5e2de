"""COMIC's three losses: Reflective Label Corrector, Multi-Focal Modifier, Head-Tail Balancer.

W. Zhang et al., *Learning in Imperfect Environment: Multi-Label Classification with Long-Tailed
Distribution and Partial Labels*, ICCV 2023 (arXiv 2304.10539), §3.1–3.3; official code
``wannature/COMIC``. Formulas follow ``specs/comic.md`` §3; see ``docs/methods/comic.md``.

COMIC has no "unknown" label state: a missing positive is stored as 0. Unknown entries (−1) are
therefore treated exactly like 0 here (a possible missing positive / negative).

All three losses share one per-entry form, an asymmetric focal log-likelihood with a class weight
``w_c`` and a detached focusing factor::

    ℓ_ic = w_c [t ln max(q⁺, ε) + (1 − t) ln max(q⁻, ε)] · sg[(1 − q_t)^γ_ic],   L = −Σ ℓ_ic
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from palt.losses._common import check_reduction, prepare, reduce

__all__ = [
    "HeadTailBalancer",
    "MultiFocalModifier",
    "ReflectiveLabelCorrector",
    "class_weights",
]

_VARIANTS = {"A": (4.0, 1.0 / 6.0), "B": (3.0, 1.0 / 3.0)}


def class_weights(counts: torch.Tensor, exponent: float) -> torch.Tensor:
    """``w_c = (1 − ln(n_c / max_j n_j))^exponent`` (≥ 1, larger for rarer classes).

    Counts below 1 are raised to 1 so that a class with no observed positive gets a finite weight.
    """
    n = counts.double().clamp_min(1.0)
    return (1.0 - torch.log(n / n.max())).pow(exponent)


def _focal_log_likelihood(
    q_pos: torch.Tensor,
    q_neg: torch.Tensor,
    positive: torch.Tensor,
    weight: torch.Tensor,
    gamma_pos: torch.Tensor,
    gamma_neg: torch.Tensor,
    eps: float,
    detach: bool = True,
) -> torch.Tensor:
    """Per-entry ``ℓ`` of the module docstring (not negated); ``positive``: boolean ``t``;
    ``detach``: no gradient through the focusing factor (both reference implementations).

    With a binary ``t`` only one of ``q⁺``/``q⁻`` enters each entry, so ``q_t`` is selected first
    and a single log and a single power are taken (same values and gradients as the sum form).
    """
    q_t = torch.where(positive, q_pos, q_neg)
    gamma = torch.where(positive, gamma_pos, gamma_neg)
    with torch.set_grad_enabled(torch.is_grad_enabled() and not detach):
        focusing = torch.pow(1 - q_t, gamma) * weight
    return torch.log(q_t.clamp_min(eps)) * focusing


def _column_normalised(cooccurrence: torch.Tensor, classes: int) -> torch.Tensor:
    """``M̃ = M / column sums`` (0 in an all-zero column) as a dense fp32 C×C matrix, from a dense
    or a sparse (COO) ``M``; the sparse route never builds a dense fp64 C×C matrix."""
    sparse = isinstance(cooccurrence, torch.Tensor) and cooccurrence.is_sparse
    m = cooccurrence if sparse else torch.as_tensor(cooccurrence, dtype=torch.float64)
    if m.shape != (classes, classes):
        raise ValueError(f"cooccurrence must be C×C = {classes}², got {tuple(m.shape)}")
    if not sparse:
        col = m.sum(0, keepdim=True)
        return torch.where(col > 0, m / col.clamp_min(1e-300), 0).float()
    m = m.coalesce()
    rows, cols = m.indices()
    values = m.values().double()
    col = torch.zeros(classes, dtype=torch.float64).index_add_(0, cols, values)
    out = torch.zeros(classes, classes, dtype=torch.float32)
    out[rows, cols] = (values / col[cols]).float()
    return out


def _as_float(logits: torch.Tensor) -> torch.Tensor:
    return logits if logits.dtype == torch.float64 else logits.float()


class MultiFocalModifier(nn.Module):
    """Multi-Focal Modifier (paper Eqs. 4–6), variant ``"A"`` (paper) or ``"B"`` (repo's PFM).

    Focusing exponents per class, ``γ⁺_c = γ⁺_pn + h⁺ w_c`` and ``γ⁻_c = γ⁻_pn + h⁻ w_c``, with the
    head/tail factor ``w_c = (1 − ln(n_c/n_max))^e`` from the observed training counts, which is
    also the class weight (``class_weighted``). Probability shifting ``q⁻ = min(1 − p + clip, 1)``.

    * **A** (``repo:loss/Multi-GrainedFocalLoss.py``, the paper's MFM): ``q⁺ = p``; ``γ⁻_pn = 4``,
      ``e = 1/6``.
    * **B** (``repo:loss/PriorFocalModifierLoss.py``, "Prior Focal Modifier", used by the repo's
      configs): ``γ⁻_pn = 3``, ``e = 1/3`` and a co-occurrence prior (``cooccurrence``: dense, or
      a sparse COO tensor for many classes). With ``M̃`` the
      column-normalised co-occurrence matrix ``M = YᵀY``, sample ``i`` gets
      ``a_i = mean_{k: y_ik = 1} M̃_k,:`` renormalised to sum 1 (``a_i = 0`` when the sample has no
      positive); then ``q⁺ = p (1 − a)`` and, where ``a ≠ 0``, ``q⁻ ← min(prior_factor · q⁻, 1)``.
      The C×C prior is a dense buffer (O(C²) memory: 400 MB at C = 10,000).

    Defaults ``γ⁺_pn = 0``, ``h⁺ = 0``, ``h⁻ = 1``, clip 0.05: both variants as coded. The reference
    code sums over the batch (``reduction="sum"``, our default).
    """

    def __init__(
        self,
        class_counts: torch.Tensor,
        variant: str = "A",
        cooccurrence: torch.Tensor | None = None,
        gamma_pos: float = 0.0,
        gamma_neg: float | None = None,
        ht_pos: float = 0.0,
        ht_neg: float = 1.0,
        weight_exponent: float | None = None,
        class_weighted: bool = True,
        prior_factor: float = 1.2,
        clip: float = 0.05,
        eps: float = 1e-8,
        detach_focusing: bool = True,
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        if variant not in _VARIANTS:
            raise ValueError(f"MultiFocalModifier: variant must be 'A' or 'B', got {variant!r}")
        if variant == "B" and cooccurrence is None:
            raise ValueError("MultiFocalModifier: variant 'B' needs the co-occurrence matrix")
        counts = torch.as_tensor(class_counts)
        if counts.ndim != 1:
            raise ValueError(f"class_counts must be a vector, got shape {tuple(counts.shape)}")
        default_gamma, default_exponent = _VARIANTS[variant]
        self.variant = variant
        self.gamma_pos_pn = float(gamma_pos)
        self.gamma_neg_pn = default_gamma if gamma_neg is None else float(gamma_neg)
        self.ht_pos, self.ht_neg = float(ht_pos), float(ht_neg)
        self.class_weighted = class_weighted
        self.prior_factor = float(prior_factor)
        self.clip, self.eps = float(clip), float(eps)
        self.detach_focusing = detach_focusing
        self.reduction = check_reduction(reduction)
        exponent = default_exponent if weight_exponent is None else float(weight_exponent)
        self.register_buffer("weight", class_weights(counts, exponent).float())
        if variant == "B":
            self.register_buffer("prior", _column_normalised(cooccurrence, counts.numel()))
        else:
            self.prior = None

    def prior_scores(self, positives: torch.Tensor) -> torch.Tensor:
        """Variant B's ``a``: mean of ``M̃`` rows over each sample's positives, renormalised."""
        prior = self.prior.to(positives.dtype)
        n_pos = positives.sum(1, keepdim=True)
        # sparse product: cost ∝ #positives · C instead of B · C²
        a = torch.sparse.mm(positives.to_sparse(), prior) / n_pos.clamp_min(1)
        total = a.sum(1, keepdim=True)
        return torch.where(total > 0, a / total.clamp_min(1e-30), torch.zeros_like(a))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, masks = prepare(logits, targets)
        return self.from_positives(z, masks.pos > 0)

    def from_positives(
        self,
        z: torch.Tensor,
        positive: torch.Tensor,
        prior_scores: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """:meth:`forward` with the targets already checked (by
        :func:`~palt.losses._common.prepare`): ``positive`` is the boolean positive mask;
        ``prior_scores`` is variant B's ``a`` for these positives when the caller already has it.
        For a caller applying the loss to several logits of one batch."""
        z = _as_float(z)
        p = torch.sigmoid(z)
        q_neg = (1 - p + self.clip).clamp(max=1)
        q_pos = p
        if self.prior is not None:
            a = self.prior_scores(positive.to(z.dtype)) if prior_scores is None else prior_scores
            a = a.to(z.dtype)
            q_pos = p * (1 - a)
            q_neg = torch.where(a != 0, q_neg * self.prior_factor, q_neg).clamp(max=1)
        w = self.weight.to(z.dtype)
        weight = w if self.class_weighted else torch.ones_like(w)
        ell = _focal_log_likelihood(
            q_pos,
            q_neg,
            positive,
            weight,
            self.gamma_pos_pn + self.ht_pos * w,
            self.gamma_neg_pn + self.ht_neg * w,
            self.eps,
            self.detach_focusing,
        )
        return -reduce(ell, self.reduction)


class ReflectiveLabelCorrector(nn.Module):
    """Reflective Label Corrector (paper Eqs. 2–3, as coded in ``repo:loss/ReflectiveLabelCorrectorLoss.py``).

    1. Margin on observed positives: ``p = σ(z − m·y)``.
    2. Class-aware threshold ``P_c``: the batch mean of ``p`` (``threshold="batch"``, code) or an
       exponential moving average over past batches, ``P ← μP + (1 − μ)·mean_batch p``
       (``threshold="ema"``, the paper's "average over past data"; first batch initialises it).
    3. Recall ``ŷ = [y = 0 ∧ p > τ ∧ p > P_c]`` from epoch ``start_epoch`` (0-based; default 0, no
       warm-up; before it, no label is recalled); targets ``t = max(y, ŷ)``, never stored.
    4. Dynamic distribution ``D``: reset to the observed counts at the first call of each epoch, then
       ``D_c += Σ_i ŷ_ic`` per batch (this batch included); ``v_c = (1 − ln(D_c/max D))^{1/6}``.
    5. ``ℓ`` (module docstring) with ``q⁺ = p``, ``q⁻ = min(1 − p + clip, 1)``, weight ``v_c``,
       ``γ⁺ = 0``, ``γ⁻ = γ⁻_pn + v_c`` (``γ⁻_pn = 3``).
    6. ``L = −(B_s / N_t) Σ ℓ`` with ``N_t = Σ t`` the positives after correction (code; the paper
       says "corrected labels"), ``B_s = 32`` a constant; a batch with no positive uses ``N_t = 1``.

    State (``D``, the epoch it belongs to, the EMA) lives in buffers, so ``state_dict`` resumes
    exactly. ``last_recalled`` holds the latest batch's ``ŷ`` for diagnostics.
    """

    def __init__(
        self,
        class_counts: torch.Tensor,
        tau: float = 0.7,
        margin: float = 1.0,
        gamma_neg: float = 3.0,
        weight_exponent: float = 1.0 / 6.0,
        clip: float = 0.05,
        batch_scale: float = 32.0,
        threshold: str = "batch",
        threshold_momentum: float = 0.9,
        start_epoch: int = 0,
        eps: float = 1e-8,
        detach_focusing: bool = True,
    ) -> None:
        super().__init__()
        if threshold not in ("batch", "ema"):
            raise ValueError(
                f"ReflectiveLabelCorrector: threshold must be 'batch' or 'ema', got {threshold!r}"
            )
        if not 0.0 <= threshold_momentum < 1.0:
            raise ValueError(f"threshold_momentum must be in [0, 1), got {threshold_momentum}")
        counts = torch.as_tensor(class_counts, dtype=torch.float64)
        if counts.ndim != 1:
            raise ValueError(f"class_counts must be a vector, got shape {tuple(counts.shape)}")
        self.tau, self.margin, self.gamma_neg = float(tau), float(margin), float(gamma_neg)
        self.weight_exponent, self.clip = float(weight_exponent), float(clip)
        self.batch_scale, self.eps = float(batch_scale), float(eps)
        self.threshold, self.threshold_momentum = threshold, float(threshold_momentum)
        self.start_epoch = int(start_epoch)
        self.detach_focusing = detach_focusing
        self.register_buffer("base_counts", counts.clone())
        self.register_buffer("counts", counts.clone())
        self.register_buffer("epoch", torch.tensor(-1, dtype=torch.long))
        self.register_buffer("mean_probability", torch.zeros(counts.numel(), dtype=torch.float64))
        self.register_buffer("mean_ready", torch.tensor(False))
        self.last_recalled: torch.Tensor | None = None

    def class_threshold(self, p: torch.Tensor) -> torch.Tensor:
        """``P_c`` for this batch (updates the EMA in ``"ema"`` mode)."""
        batch_mean = p.detach().mean(0)
        if self.threshold == "batch":
            return batch_mean
        m = self.threshold_momentum
        new = batch_mean.double()
        if bool(self.mean_ready):
            new = m * self.mean_probability + (1 - m) * new
        self.mean_probability.copy_(new)
        self.mean_ready.fill_(True)
        return new.to(p.dtype)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, epoch: int) -> torch.Tensor:
        z, masks = prepare(logits, targets)
        return self.from_positives(z, masks.pos > 0, epoch)

    def from_positives(self, z: torch.Tensor, positive: torch.Tensor, epoch: int) -> torch.Tensor:
        """:meth:`forward` with the targets already checked: the boolean positive mask."""
        z = _as_float(z)
        p = torch.sigmoid(torch.sub(z, positive.to(z.dtype), alpha=self.margin))
        threshold = self.class_threshold(p)
        if epoch >= self.start_epoch:
            p_sg = p.detach()
            recalled = ~positive & (p_sg > self.tau) & (p_sg > threshold)
        else:
            recalled = torch.zeros_like(positive)
        if int(self.epoch) != epoch:
            self.epoch.fill_(epoch)
            self.counts.copy_(self.base_counts)
        self.counts += recalled.sum(0).to(self.counts)
        self.last_recalled = recalled
        t = positive | recalled
        v = class_weights(self.counts, self.weight_exponent).to(z.dtype)
        q_neg = (1 - p + self.clip).clamp(max=1)
        ell = _focal_log_likelihood(
            p, q_neg, t, v, torch.zeros_like(v), self.gamma_neg + v, self.eps, self.detach_focusing
        )
        n_t = t.sum().to(z.dtype).clamp_min(1.0)
        return -(self.batch_scale / n_t) * ell.sum()


class HeadTailBalancer(nn.Module):
    """Head-Tail Balancer (paper Eq. 11, ``repo:loss/HeadTailBalancerLoss.py``).

    ``L_htb = κ_h 𝓛(sg[φ(ẑ_h)] ⊙ φ(z_b)) + κ_t 𝓛(sg[φ(ẑ_t)] ⊙ φ(z_b))`` with ``φ`` the softmax
    over classes and ``𝓛`` the given loss (MFM) against the observed labels; the products of
    probabilities are fed to ``𝓛`` as logits (as in the code). ``κ_h = L_h^α / (L_h^α + L_t^α)``,
    ``L_h = 𝓛(ẑ_h)``, ``L_t = 𝓛(ẑ_t)``, computed without gradient (``α = 2``; equal weights when
    both are 0). Gradients reach ``z_b`` only.
    """

    def __init__(self, loss: MultiFocalModifier, exponent: float = 2.0) -> None:
        super().__init__()
        self.loss = loss
        self.exponent = float(exponent)

    def kappa(
        self, zhat_head: torch.Tensor, zhat_tail: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(κ_h, κ_t)`` for these targets."""
        z, masks = prepare(zhat_head, targets)
        positive = masks.pos > 0
        return self._kappa(z, _as_float(zhat_tail), positive, self._prior_scores(positive, z))

    def _prior_scores(self, positive: torch.Tensor, z: torch.Tensor) -> torch.Tensor | None:
        return None if self.loss.prior is None else self.loss.prior_scores(positive.to(z.dtype))

    def _kappa(
        self,
        zhat_head: torch.Tensor,
        zhat_tail: torch.Tensor,
        positive: torch.Tensor,
        prior_scores: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            lh = self.loss.from_positives(zhat_head.detach(), positive, prior_scores)
            lt = self.loss.from_positives(zhat_tail.detach(), positive, prior_scores)
            lh, lt = lh.pow(self.exponent), lt.pow(self.exponent)
            total = lh + lt
            half = torch.full_like(total, 0.5)
            return torch.where(total > 0, lh / total, half), torch.where(
                total > 0, lt / total, half
            )

    def forward(
        self,
        zhat_head: torch.Tensor,
        zhat_tail: torch.Tensor,
        z_balanced: torch.Tensor,
        targets: torch.Tensor,
    ) -> torch.Tensor:
        z_b, masks = prepare(z_balanced, targets)
        positive = masks.pos > 0
        return self.from_positives(
            zhat_head, zhat_tail, z_b, positive, self._prior_scores(positive, z_b)
        )

    def from_positives(
        self,
        zhat_head: torch.Tensor,
        zhat_tail: torch.Tensor,
        z_balanced: torch.Tensor,
        positive: torch.Tensor,
        prior_scores: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """:meth:`forward` with the targets already checked (boolean positive mask) and, for
        variant B, the batch's prior scores ``a`` already computed (``None``: computed here)."""
        zh, zt, zb = _as_float(zhat_head), _as_float(zhat_tail), _as_float(z_balanced)
        if prior_scores is None:
            prior_scores = self._prior_scores(positive, zb)
        k_h, k_t = self._kappa(zh, zt, positive, prior_scores)
        p_b = F.softmax(zb, dim=1)
        p_h = F.softmax(zh.detach(), dim=1).to(p_b.dtype)
        p_t = F.softmax(zt.detach(), dim=1).to(p_b.dtype)
        return k_h * self.loss.from_positives(
            p_h * p_b, positive, prior_scores
        ) + k_t * self.loss.from_positives(p_t * p_b, positive, prior_scores)
