"""Cached backbone features: sharded, memory-mapped, resumable (what ``palt extract`` writes).

A frozen backbone is run once over a benchmark's images (test transform) and its pooled
features are stored per split in shards of ``shard_size`` consecutive samples::

    OUT/manifest.json                 format, backbone, weights sha256, transform, dtype, ...
    OUT/<split>/features-00000.npy    rows × D, float16 or float32 (memory-mapped when read)
    OUT/<split>/index-00000.npy       int64 sample index of each row (skipped images omitted)
    OUT/<split>/shard-00000.json      completion record: sample range, rows, skipped files
    OUT/<split>/split.json            written when every shard of the split is complete

Each file is written atomically and a shard's JSON record last, so an interrupted run leaves
complete shards (kept and skipped on resume) and at most one partial shard (rewritten). Shards
are computed independently in fixed batches, so a resumed extraction gives the same bytes as an
uninterrupted one. Training on such a folder (``data.features``) trains the head(s) only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from palt._io import atomic_path, read_json, write_json
from palt.labels import LabelSet

FORMAT = "palt.features"
DTYPES = {"fp16": np.float16, "fp32": np.float32}

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class FeatureCacheError(ValueError):
    """A feature folder that is incomplete, inconsistent, or made with other parameters."""


# ---------------------------------------------------------------------- reading
class ShardedFeatures:
    """The shards of one split, memory-mapped; rows are looked up by sample index."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        record = read_json(self.folder / "split.json")
        self.n_samples = int(record["n_samples"])
        self.dim = int(record["dim"])
        self.arrays: list[np.ndarray] = []
        self.shard = np.full(self.n_samples, -1, dtype=np.int64)
        self.row = np.zeros(self.n_samples, dtype=np.int64)
        for k in range(int(record["shards"])):
            feats = np.load(_shard_file(self.folder, "features", k), mmap_mode="r")
            index = np.load(_shard_file(self.folder, "index", k), allow_pickle=False)
            if feats.ndim != 2 or feats.shape != (len(index), self.dim):
                raise FeatureCacheError(
                    f"{_shard_file(self.folder, 'features', k)}: shape {feats.shape}, "
                    f"expected ({len(index)}, {self.dim})"
                )
            self.arrays.append(feats)
            self.shard[index] = k
            self.row[index] = np.arange(len(index))
        self.skipped = [int(i) for i in np.flatnonzero(self.shard < 0)]

    def present(self, idx: np.ndarray) -> np.ndarray:
        """Mask of the samples that have a feature row (False for skipped images)."""
        return self.shard[idx] >= 0

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """float32 len(idx)×D rows of present samples, read shard by shard in ascending order."""
        out = np.empty((len(idx), self.dim), dtype=np.float32)
        shards = self.shard[idx]
        for k in np.unique(shards):
            sel = np.flatnonzero(shards == k)
            rows = self.row[idx[sel]]
            order = np.argsort(rows, kind="stable")
            out[sel[order]] = self.arrays[k][rows[order]]
        return out


class CachedFeatureDataset(Dataset):
    """Cached features with their label rows; samples whose image was skipped are dropped from
    their batch (the batch comes out smaller)."""

    def __init__(self, features: ShardedFeatures, labels: LabelSet) -> None:
        if features.n_samples != labels.n_samples:
            raise FeatureCacheError(
                f"{features.folder}: features of {features.n_samples} samples for "
                f"{labels.n_samples} labelled samples (extracted from another benchmark?)"
            )
        self.features = features
        self.labels = labels

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.features.dim,)

    def __len__(self) -> int:
        return self.labels.n_samples

    def __getitem__(self, index: int) -> Batch:
        x, y, i = self.__getitems__([index])
        if len(i) == 0:
            raise IndexError(f"sample {index} has no features (its image was skipped)")
        return x[0], y[0], i[0]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        idx = idx[self.features.present(idx)]
        return (
            torch.from_numpy(self.features.rows(idx)),
            torch.from_numpy(self.labels.rows(idx)),
            torch.from_numpy(idx),
        )


def is_feature_cache(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` was written by :func:`extract_features`."""
    path = Path(folder) / "manifest.json"
    return path.is_file() and read_json(path).get("format") == FORMAT


def load_split(folder: str | os.PathLike[str], split: str, labels: LabelSet) -> Dataset:
    """The dataset of one split of a feature folder; a clear error if it is incomplete."""
    path = Path(folder) / split
    if not (path / "split.json").is_file():
        raise FeatureCacheError(
            f"{path}: features of split {split!r} are missing or incomplete; run `palt extract` "
            "again with the same arguments to finish (completed shards are kept)"
        )
    return CachedFeatureDataset(ShardedFeatures(path), labels)


# ---------------------------------------------------------------------- writing
def extract_features(
    datasets: dict[str, Dataset],
    backbone: nn.Module,
    out: str | os.PathLike[str],
    *,
    params: dict[str, Any],
    dtype: str = "fp16",
    shard_size: int = 4096,
    batch_size: int = 64,
    num_workers: int = 0,
    describe_skip: Callable[[str, int], str] | None = None,
    after_shard: Callable[[str, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the frozen ``backbone`` over ``datasets`` (split → dataset of ``(x, row, index)``)
    and write shards to ``out``; return per-split records (``n_samples``, ``dim``, ``skipped``).

    ``params`` (backbone, weights checksum, transform…) go into ``OUT/manifest.json``; resuming
    into a folder made with different ``params``, ``dtype`` or ``shard_size`` is an error.
    ``describe_skip(split, index)`` explains a sample missing from a batch (a skipped image);
    ``after_shard(split, k)`` is called after shard ``k`` is complete.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if shard_size < 1 or batch_size < 1:
        raise ValueError(f"shard_size and batch_size must be >= 1, got {shard_size}, {batch_size}")
    root = Path(out)
    manifest = {
        "format": FORMAT,
        "version": 1,
        "params": params,
        "dtype": dtype,
        "shard_size": int(shard_size),
        "splits": {s: len(d) for s, d in datasets.items()},  # type: ignore[arg-type]
    }
    _check_or_write_manifest(root, manifest)
    backbone.eval()
    records = {}
    for split, dataset in datasets.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        n = len(dataset)  # type: ignore[arg-type]
        if n == 0:
            raise FeatureCacheError(f"split {split!r} is empty: nothing to extract")
        n_shards = -(-n // shard_size)
        dim = None
        skipped: list[dict[str, Any]] = []
        for k in range(n_shards):
            start, stop = k * shard_size, min((k + 1) * shard_size, n)
            record = _completed_shard(folder, k, start, stop)
            if record is None:
                record = _write_shard(
                    folder, k, dataset, backbone, start, stop, dtype, batch_size, num_workers,
                    lambda i, s=split: describe_skip(s, i) if describe_skip else "skipped",
                )  # fmt: skip
                if after_shard is not None:
                    after_shard(split, k)
            dim = record["dim"] if dim is None else dim
            skipped += record["skipped"]
        summary = {"n_samples": n, "dim": dim, "shards": n_shards, "skipped": skipped}
        write_json(folder / "split.json", summary)
        records[split] = summary
    return records


def _shard_file(folder: Path, kind: str, k: int) -> Path:
    return folder / f"{kind}-{k:05d}.{'json' if kind == 'shard' else 'npy'}"


def _completed_shard(folder: Path, k: int, start: int, stop: int) -> dict[str, Any] | None:
    """The shard's record if all its files are present and agree with each other, else None."""
    record_path = _shard_file(folder, "shard", k)
    if not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        feats = np.load(_shard_file(folder, "features", k), mmap_mode="r")
        index = np.load(_shard_file(folder, "index", k), allow_pickle=False)
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(record, dict)
        and record.get("range") == [start, stop]
        and feats.shape == (record.get("rows"), record.get("dim"))
        and len(index) == record.get("rows")
        and isinstance(record.get("skipped"), list)
    )
    return record if ok else None


@torch.no_grad()
def _write_shard(
    folder: Path,
    k: int,
    dataset: Dataset,
    backbone: nn.Module,
    start: int,
    stop: int,
    dtype: str,
    batch_size: int,
    num_workers: int,
    describe_skip: Callable[[int], str],
) -> dict[str, Any]:
    _shard_file(folder, "shard", k).unlink(missing_ok=True)
    batches = [list(range(b, min(b + batch_size, stop))) for b in range(start, stop, batch_size)]
    loader = DataLoader(
        dataset, batch_sampler=batches, num_workers=num_workers, collate_fn=_pass_through
    )
    parts, kept = [], []
    for x, _, idx in loader:
        if len(idx):
            parts.append(backbone(x).float().numpy().astype(DTYPES[dtype]))
            kept.append(idx.numpy())
    index = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
    if not parts:
        raise FeatureCacheError(f"{folder}: every image of samples {start}..{stop - 1} failed")
    feats = np.concatenate(parts)
    _save_npy(_shard_file(folder, "features", k), feats)
    _save_npy(_shard_file(folder, "index", k), index.astype(np.int64))
    missing = sorted(set(range(start, stop)) - set(index.tolist()))
    record = {
        "range": [start, stop],
        "rows": int(len(index)),
        "dim": int(feats.shape[1]),
        "skipped": [{"index": i, "error": describe_skip(i)} for i in missing],
    }
    write_json(_shard_file(folder, "shard", k), record)
    return record


def _pass_through(batch: Any) -> Any:
    return batch


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def _check_or_write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    path = root / "manifest.json"
    if path.is_file():
        old = read_json(path)
        if json.loads(json.dumps(manifest)) != old:
            diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
            raise FeatureCacheError(
                f"{path}: the folder holds features made with other settings (differ in "
                f"{diff}); choose another output folder or pass --overwrite"
            )
        return
    write_json(path, manifest)


__all__ = [
    "CachedFeatureDataset",
    "FeatureCacheError",
    "ShardedFeatures",
    "extract_features",
    "is_feature_cache",
    "load_split",
]
