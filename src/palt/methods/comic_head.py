"""COMIC's three-branch head on one backbone pass (paper §3.4, Eqs. 7–10; ``specs/comic.md`` §3.0).

The official code runs three frozen ResNet-50s on the same batch; with a frozen backbone their
features are identical, so one backbone pass feeds all three branches here. Each branch keeps its
own trainable projection ``f = LogSoftmax(W h + b)`` (2048 → 1024) and normalised classifier:

* head ``M_h`` and tail ``M_t``: plain logits ``z`` (Eq. 9) and learning-effect logits ``ẑ``
  (Eq. 10) against a moving average ``e`` of their features;
* balanced ``M_b``: its feature fused with the (detached) head/tail features by additive
  attention, ``f_b = f̂_b + β·Attn(f̂_b, [sg f_h, sg f_t])``; its logits ``z_b`` are the prediction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BRANCHES = ("head", "tail", "balanced")
ATTENTION_MODES = ("trained", "frozen", "eval_only", "none")


class NormalizedClassifier(nn.Module):
    """Normalised ("causal-norm") classifier, paper Eq. 9, no bias.

    ``z_c = (ρ/N_g) Σ_k ⟨f_k/‖f_k‖, w_ck/(‖w_ck‖ + η)⟩`` over ``N_g`` channel groups ``k``.
    :meth:`adjusted` gives Eq. 10 against a direction ``e``: with ``ê_k = e_k/‖e_k‖`` and
    ``cos_k = ⟨f̂_k, ê_k⟩``, ``ẑ_c = (ρ/N_g) Σ_k ⟨f̂_k + a·cos_k·ê_k, w̃_ck⟩``
    (``a = −1`` for the head model, ``+α_t = +2`` for the tail model in the code).
    Defaults ρ = 16, η = 1/32, N_g = 1; weights initialised ``U(−1/√d, 1/√d)``.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        scale: float = 16.0,
        eta: float = 1.0 / 32.0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        if in_features % groups:
            raise ValueError(
                f"classifier_groups={groups} must divide the feature size {in_features}"
            )
        self.scale, self.eta, self.groups = float(scale), float(eta), int(groups)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(num_classes, in_features).uniform_(-bound, bound))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[:-1], self.groups, x.shape[-1] // self.groups)

    def normalized_weight(self) -> torch.Tensor:
        """``w̃_ck = w_ck / (‖w_ck‖ + η)``, shape C × N_g × d/N_g."""
        w = self._split(self.weight)
        return w / (w.norm(dim=-1, keepdim=True) + self.eta)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        f = F.normalize(self._split(features), dim=-1)
        return self._logits(f, self.normalized_weight())

    def _logits(self, f: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bkd,ckd->bc", f, w) * (self.scale / self.groups)

    def _adjusted(
        self,
        f: torch.Tensor,
        w: torch.Tensor,
        logits: torch.Tensor,
        direction: torch.Tensor,
        coefficient: float,
    ) -> torch.Tensor:
        e = F.normalize(self._split(direction.to(f.dtype)), dim=-1)
        cos = torch.einsum("bkd,kd->bk", f, e)
        e_dot_w = torch.einsum("kd,ckd->kc", e, w)
        return logits + (coefficient * self.scale / self.groups) * (cos @ e_dot_w)

    def adjusted(
        self,
        features: torch.Tensor,
        logits: torch.Tensor,
        direction: torch.Tensor,
        coefficient: float,
    ) -> torch.Tensor:
        """Eq. 10 given the plain ``logits`` of the same ``features``; ``direction`` = ``e``."""
        f = F.normalize(self._split(features), dim=-1)
        return self._adjusted(f, self.normalized_weight(), logits, direction, coefficient)

    def with_adjusted(
        self, features: torch.Tensor, direction: torch.Tensor, coefficient: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, ẑ)``: :meth:`forward` and :meth:`adjusted`, normalising features and weights
        once."""
        f = F.normalize(self._split(features), dim=-1)
        w = self.normalized_weight()
        z = self._logits(f, w)
        return z, self._adjusted(f, w, z, direction, coefficient)


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention of the balanced feature over the head/tail features.

    ``s_j = vᵀ tanh(W_q q + W_k f_j)``, ``β = dropout(softmax_j s)``, output ``Σ_j β_j f_j`` (raw
    values, no value projection, no biases), as in ``repo:models/AdditivetionAttention.py``.
    """

    def __init__(self, features: int, hidden: int = 1024, dropout: float = 0.1) -> None:
        super().__init__()
        self.query = nn.Linear(features, hidden, bias=False)
        self.key = nn.Linear(features, hidden, bias=False)
        self.score = nn.Linear(hidden, 1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``query``: B × d; ``values``: B × J × d (here J = 2: head, tail)."""
        s = self.score(torch.tanh(self.query(query).unsqueeze(1) + self.key(values))).squeeze(-1)
        beta = self.dropout(torch.softmax(s, dim=1))
        return torch.einsum("bj,bjd->bd", beta, values)


class ComicHead(nn.Module):
    """The three COMIC branches on shared backbone features.

    ``forward(h)`` returns ``logits`` (= ``z_b``), ``z_head``, ``zhat_head``, ``z_tail``,
    ``zhat_tail``. In training mode the head/tail moving averages
    ``e ← μ e + mean_i f_i`` (features, detached; TDE-style, as coded) are updated before the
    logits are computed; they are never updated in eval mode. The balanced branch's ``e`` is unused
    by the reference code, so it is not kept.

    ``attention``: ``"trained"`` (paper; fused in training and evaluation, trained through the
    balanced loss), ``"frozen"`` (fused always, random weights never trained), ``"eval_only"``
    (the released code: not used in training, untrained weights used at evaluation), ``"none"``.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: int = 1024,
        log_softmax: bool = True,
        scale: float = 16.0,
        eta: float = 1.0 / 32.0,
        groups: int = 1,
        head_coefficient: float = 1.0,
        tail_coefficient: float = 2.0,
        momentum: float = 0.9,
        attention: str = "trained",
        attention_scale: float = 0.1,
        attention_hidden: int = 1024,
        attention_dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        self.log_softmax = log_softmax
        self.head_coefficient, self.tail_coefficient = (
            float(head_coefficient),
            float(tail_coefficient),
        )
        self.momentum = float(momentum)
        self.attention_mode, self.attention_scale = attention, float(attention_scale)
        self.projection = nn.ModuleDict({b: nn.Linear(in_features, hidden) for b in BRANCHES})
        self.classifier = nn.ModuleDict(
            {b: NormalizedClassifier(hidden, num_classes, scale, eta, groups) for b in BRANCHES}
        )
        self.attention = (
            None
            if attention == "none"
            else AdditiveAttention(hidden, attention_hidden, attention_dropout)
        )
        if attention in ("frozen", "eval_only"):
            self.attention.requires_grad_(False)
        self.register_buffer("e_head", torch.zeros(hidden))
        self.register_buffer("e_tail", torch.zeros(hidden))

    def features(self, branch: str, h: torch.Tensor) -> torch.Tensor:
        f = self.projection[branch](h)
        return F.log_softmax(f, dim=1) if self.log_softmax else f

    def _fuse(self, f_b: torch.Tensor, f_h: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        if self.attention is None or (self.attention_mode == "eval_only" and self.training):
            return f_b
        values = torch.stack([f_h.detach(), f_t.detach()], dim=1)
        return f_b + self.attention_scale * self.attention(f_b, values)

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        f_h, f_t, f_b = (self.features(b, h) for b in BRANCHES)
        if self.training:
            with torch.no_grad():
                self.e_head.mul_(self.momentum).add_(f_h.detach().float().mean(0))
                self.e_tail.mul_(self.momentum).add_(f_t.detach().float().mean(0))
        cls = self.classifier
        z_h, zhat_h = cls["head"].with_adjusted(f_h, self.e_head, -self.head_coefficient)
        z_t, zhat_t = cls["tail"].with_adjusted(f_t, self.e_tail, self.tail_coefficient)
        return {
            "logits": cls["balanced"](self._fuse(f_b, f_h, f_t)),
            "z_head": z_h,
            "zhat_head": zhat_h,
            "z_tail": z_t,
            "zhat_tail": zhat_t,
        }
