"""Input conversion shared by the metric functions and the accumulator.

Scores are logits as NumPy arrays or torch tensors (any device; moved to CPU here). They stay in
the precision they arrive in when that is fp32 or fp64; half precision is widened to fp32 (the
ties it created cannot be undone — evaluate fp32 logits). Targets use the canonical states
1 / 0 / −1.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MetricInputError(ValueError):
    """Scores or targets that the metrics cannot use; the message says which and where."""


def to_numpy(x: Any, what: str) -> np.ndarray:
    """A NumPy view (or copy) of an array-like or a torch tensor."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        t = x.detach().cpu()
        if t.dtype.is_floating_point and t.dtype.itemsize < 4:
            t = t.float()
        return t.numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise MetricInputError(f"{what}: cannot be read as an array ({err})") from None


def as_scores(x: Any, what: str = "scores", ndim: int = 2) -> np.ndarray:
    """Floating scores (fp32 or fp64) of the given rank; integers and booleans are refused."""
    arr = to_numpy(x, what)
    if arr.ndim != ndim:
        raise MetricInputError(f"{what}: expected a {ndim}-D array, got shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise MetricInputError(f"{what}: expected floating-point logits, got dtype {arr.dtype}")
    if arr.dtype.itemsize < 4:
        arr = arr.astype(np.float32)
    elif arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)
    return arr


def check_finite(values: np.ndarray, what: str, locate: Any = None) -> None:
    """Raise on NaN or ±inf; ``locate(flat_position)`` names the entry in the message."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum(dtype=np.float64)):  # one pass; NaN and inf propagate
            return
    ok = np.isfinite(values)
    if ok.all():
        return
    k = int(np.flatnonzero(~ok.ravel())[0])
    where = locate(k) if locate is not None else f"position {k}"
    bad = values.ravel()[k].item()
    raise MetricInputError(
        f"{what}: non-finite score {bad} at {where}; scores must be finite fp32 logits "
        "(a NaN usually means the model diverged; an inf, probabilities passed through a logit)"
    )


def as_targets(x: Any, what: str = "targets", ndim: int = 2) -> np.ndarray:
    """Targets as an array of the given rank (values are checked by :func:`check_states`)."""
    arr = to_numpy(x, what)
    if arr.ndim != ndim:
        raise MetricInputError(f"{what}: expected a {ndim}-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise MetricInputError(f"{what}: expected numbers in {{1, 0, -1}}, got dtype {arr.dtype}")
    return arr


def check_states(t: np.ndarray, what: str, locate: Any = None) -> None:
    """Raise unless every value is 1, 0 or −1."""
    if t.size == 0 or (t.dtype.kind in "biu" and t.min() >= -1 and t.max() <= 1):
        return
    bad = (t != 1) & (t != 0) & (t != -1)
    if not bad.any():
        return
    k = int(np.flatnonzero(bad.ravel())[0])
    where = locate(k) if locate is not None else f"position {k}"
    raise MetricInputError(
        f"{what}: value {t.ravel()[k].item()!r} at {where} is not one of 1 (positive), "
        "0 (annotated negative), -1 (unknown); convert other encodings with palt.labels.encodings"
    )


def as_indices(x: Any, what: str = "indices") -> np.ndarray:
    """A 1-D ``int64`` array of non-negative integers."""
    arr = to_numpy(x, what)
    if arr.ndim != 1:
        raise MetricInputError(f"{what}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise MetricInputError(f"{what}: expected integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise MetricInputError(f"{what}: negative value {int(arr.min())}")
    return arr
