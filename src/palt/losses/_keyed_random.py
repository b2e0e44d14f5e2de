"""Counter-based uniform numbers: a pure function of (seed, step, sample row, class).

Stochastic losses (PLM's masks) draw their randomness from here instead of a stateful
generator, so that a draw depends only on integers the method keeps in buffers. Resume is then
exact, and under data parallelism every process draws independent numbers for its own rows
without any generator state to synchronise.

The mixing function is the 32-bit integer hash "lowbias32" (C. Wellons, hash-prospector):
``x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16`` modulo 2³².
Multiplications are split into 16-bit halves so that int64 tensors never overflow, which keeps
the numbers identical on every device and backend.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF


def _mul32(x: torch.Tensor, constant: int) -> torch.Tensor:
    """``x · constant mod 2³²`` for int64 tensors holding values in [0, 2³²)."""
    lo, hi = constant & 0xFFFF, constant >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK32


def hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 of every element (int64 tensor, values taken modulo 2³²)."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def counter_uniform(seed: int, step: int, rows: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Uniform numbers in (0, 1), shape len(rows)×num_classes, float64.

    u[b, c] = (h + ½)/2³² with h = H(H(H(H(seed) ⊕ step) ⊕ row_b) ⊕ c), H = :func:`hash32`,
    where seed and step are folded to 32 bits. The same (seed, step, row, class) always gives
    the same number.
    """
    device = rows.device
    key = torch.tensor((seed ^ (seed >> 32)) & _MASK32, dtype=torch.int64, device=device)
    key = hash32(hash32(key) ^ ((step ^ (step >> 32)) & _MASK32))
    per_row = hash32(key ^ (rows.to(torch.int64).reshape(-1, 1) & _MASK32))
    classes = torch.arange(num_classes, dtype=torch.int64, device=device).reshape(1, -1)
    h = hash32(per_row ^ classes)
    return (h.to(torch.float64) + 0.5) / 4294967296.0
