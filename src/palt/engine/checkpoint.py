"""Checkpoints that load without unpickling, written atomically.

One checkpoint is a folder::

    weights.safetensors   network.*, method.* (buffers) and ema.* tensors
    optim.pt              optimiser + scheduler state dicts and the torch RNG state
                          (tensors and plain containers only: read with weights_only=True)
    state.json            progress (epoch, step), best score, history, Python/NumPy RNG states

``checkpoints/last.json`` names the newest complete folder; it is replaced (atomically) only
after that folder is complete, so a process killed at any moment leaves a loadable checkpoint.
``checkpoints/best.safetensors`` holds the weights selected for the final evaluation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from palt._io import atomic_dir, atomic_path, read_json, write_json


@dataclass
class Checkpoint:
    tensors: dict[str, torch.Tensor]
    optim: dict[str, Any]
    state: dict[str, Any]
    path: Path


def flat_tensors(**modules: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``{"network": sd, ...}`` → ``{"network.<key>": contiguous CPU tensor}``."""
    out = {}
    for prefix, sd in modules.items():
        for key, value in sd.items():
            out[f"{prefix}.{key}"] = value.detach().to("cpu").contiguous().clone()
    return out


def split_tensors(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``prefix`` with the prefix removed."""
    p = prefix + "."
    return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}


def rng_state() -> dict[str, Any]:
    """Python and NumPy global RNG states as JSON-able values."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - methods may draw from it
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    legacy = (kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
    np.random.set_state(legacy)  # noqa: NPY002 - restores the global state methods may draw from


class CheckpointStore:
    """The ``checkpoints/`` folder of a run."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def best_path(self) -> Path:
        return self.folder / "best.safetensors"

    def save(
        self,
        tag: str,
        tensors: dict[str, torch.Tensor],
        optim: dict[str, Any],
        state: dict[str, Any],
    ) -> Path:
        """Write checkpoint ``tag`` completely, then point ``last.json`` at it; prune older ones."""
        target = self.folder / tag
        with atomic_dir(target) as tmp:
            save_file(tensors, str(tmp / "weights.safetensors"))
            torch.save({**optim, "torch_rng": torch.get_rng_state()}, tmp / "optim.pt")
            write_json(tmp / "state.json", {**state, "rng": rng_state()})
        write_json(self.folder / "last.json", {"checkpoint": tag})
        for old in self.folder.glob("step-*"):
            if old.name != tag and old.is_dir():
                _remove_tree(old)
        return target

    def save_best(self, tensors: dict[str, torch.Tensor]) -> None:
        with atomic_path(self.best_path) as tmp:
            save_file(tensors, str(tmp))

    def latest(self) -> Path | None:
        pointer = self.folder / "last.json"
        if not pointer.is_file():
            return None
        path = self.folder / str(read_json(pointer)["checkpoint"])
        return path if path.is_dir() else None

    def load(self, path: Path) -> Checkpoint:
        """Read a checkpoint folder (safetensors + ``weights_only`` + JSON)."""
        tensors = load_file(str(path / "weights.safetensors"))
        optim = torch.load(path / "optim.pt", map_location="cpu", weights_only=True)
        state = read_json(path / "state.json")
        return Checkpoint(tensors, optim, state, path)

    def load_best(self) -> dict[str, torch.Tensor]:
        if not self.best_path.is_file():
            raise FileNotFoundError(
                f"{self.best_path}: no best checkpoint (was training finished?)"
            )
        return load_file(str(self.best_path))


def restore_rng(checkpoint: Checkpoint) -> None:
    torch.set_rng_state(checkpoint.optim["torch_rng"])
    set_rng_state(checkpoint.state["rng"])


def _remove_tree(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
