"""Step-keyed uniform numbers: a pure function of (seed, step, the batch's sample rows).

Stochastic losses (PLM's masks) draw their randomness from here instead of a generator whose
state would have to be saved: each call seeds a fresh ``torch.Generator`` from integers the
method keeps in buffers. Resume is then exact, and under data parallelism every process (which
sees other rows) draws different numbers without any generator state to synchronise.

The generator seed mixes the integers with the 32-bit integer hash "lowbias32" (C. Wellons,
hash-prospector): ``x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16``
modulo 2³². Tensor multiplications are split into 16-bit halves so that int64 never overflows.
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


def _fold(value: int) -> int:
    return (value ^ (value >> 32)) & _MASK32


def step_seed(seed: int, step: int, rows: torch.Tensor) -> int:
    """64-bit generator seed: high half k = H(H(seed) ⊕ step), low half Σ_b H(k ⊕ row_b) mod 2³²."""
    k = hash32(torch.tensor(_fold(seed), dtype=torch.int64))
    k = hash32(k ^ _fold(step))
    rows = rows.detach().to(device="cpu", dtype=torch.int64).reshape(-1)
    digest = int(hash32(k ^ (rows & _MASK32)).sum()) & _MASK32
    return (int(k) << 32) | digest


def step_uniform(
    seed: int, step: int, rows: torch.Tensor, num_classes: int, device: torch.device | None = None
) -> torch.Tensor:
    """Uniform numbers in [0, 1), shape len(rows)×num_classes, float32, from a ``torch.Generator``
    seeded with :func:`step_seed`. The same (seed, step, rows, device) gives the same numbers."""
    device = torch.device("cpu") if device is None else torch.device(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(step_seed(seed, step, rows))
    return torch.rand(rows.numel(), num_classes, generator=generator, device=device)
