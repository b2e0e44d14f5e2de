"""The run directory and its files, all written atomically by process 0::

    RUN/
      config.yaml          the fully resolved config (method hyper-parameters included)
      metrics.csv          one row per epoch: train loss, lr, validation metrics, diagnostics
      summary.json         final test metrics of the selected checkpoint, and how it was selected
      per_class.csv        per class: AP, F1, #pos/#neg/#unknown in train and test, group
      predictions/         <split>.logits.npy (fp32, rows sorted by index) + <split>.indices.npy
      checkpoints/         see palt.engine.checkpoint

A failed write (disk full, no permission) raises :class:`RunWriteError` naming the file; the
file's previous version stays intact.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from palt._io import atomic_path, read_json, write_json, write_text
from palt.engine.checkpoint import CheckpointStore


class RunWriteError(OSError):
    """An output file could not be written; its previous version is intact."""


class RunDir:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.checkpoints = CheckpointStore(self.root / "checkpoints")

    def path(self, name: str) -> Path:
        return self.root / name

    def exists(self) -> bool:
        return (self.root / "config.yaml").is_file()

    def guarded(self, path: Path, write: Callable[[], Any]) -> Any:
        """Run ``write``; turn an OS error into a clear :class:`RunWriteError`."""
        try:
            return write()
        except OSError as err:
            reason = err.strerror or str(err)
            raise RunWriteError(
                f"cannot write {path}: {reason}; previous outputs in {self.root} are intact"
            ) from err

    def write_config(self, text: str) -> None:
        p = self.path("config.yaml")
        self.guarded(p, lambda: write_text(p, text))

    def write_metrics(self, rows: Sequence[dict[str, Any]]) -> None:
        """One row per epoch; columns ``epoch, lr, train_loss``, then the rest sorted by name."""
        first = ["epoch", "lr", "train_loss"]
        rest = sorted({k for row in rows for k in row} - set(first))
        ordered = [{k: row[k] for k in first + rest if k in row} for row in rows]
        p = self.path("metrics.csv")
        self.guarded(p, lambda: write_text(p, to_csv(ordered)))

    def write_summary(self, summary: dict[str, Any]) -> None:
        p = self.path("summary.json")
        self.guarded(p, lambda: write_json(p, summary))

    def write_per_class(self, rows: Sequence[dict[str, Any]], name: str = "per_class.csv") -> None:
        p = self.path(name)
        self.guarded(p, lambda: write_text(p, to_csv(rows)))

    def write_json(self, name: str, obj: Any) -> None:
        p = self.path(name)
        self.guarded(p, lambda: write_json(p, obj))

    def write_predictions(self, split: str, indices: np.ndarray, logits: np.ndarray) -> None:
        """fp32 logits (rows sorted by sample index) and the int64 indices, as ``.npy``."""
        folder = self.root / "predictions"
        for suffix, arr in (
            ("indices", np.asarray(indices, dtype=np.int64)),
            ("logits", np.asarray(logits, dtype=np.float32)),
        ):
            p = folder / f"{split}.{suffix}.npy"

            def write(p: Path = p, arr: np.ndarray = arr) -> None:
                with atomic_path(p) as tmp, open(tmp, "wb") as f:
                    np.save(f, arr, allow_pickle=False)

            self.guarded(p, write)

    def read_predictions(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        folder = self.root / "predictions"
        return (
            np.load(folder / f"{split}.indices.npy", allow_pickle=False),
            np.load(folder / f"{split}.logits.npy", allow_pickle=False),
        )

    def read_summary(self) -> dict[str, Any]:
        return read_json(self.path("summary.json"))


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV text with the union of keys (first-seen order); floats written with repr precision."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value
