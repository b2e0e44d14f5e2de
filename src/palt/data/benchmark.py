"""The benchmark directory: what builders write and what the engine reads.

Layout (every file written atomically; a failed build leaves a previous directory untouched)::

    DIR/
      manifest.json            format, name, preset, parameters, seed, palt version, source
                               checksums, input kind, group rule + groups, per-step class counts
      <split>/labels.npz|json  observed labels (1 / 0 / −1) of the split, a LabelSet
      <split>/full.npz|json    complete labels, when the builder made the partial ones itself
      <split>/inputs.jsonl     one JSON object per sample, in label-row order:
                               {"id": ..., "path": "relative/to/input_root"}  (input kind "image")
                               {"id": ..., "text": "..."}                      (input kind "text")
      <split>/images.npy       uint8 N×H×W or N×H×W×3 array                    (input kind "array")

Splits are ``train``, ``val`` (carved from training data, for model selection) and ``test``.
Image paths are relative to ``manifest["input"]["root"]`` (absolute, or relative to ``DIR``) and
must stay inside it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from palt import __version__
from palt._io import atomic_dir, read_json
from palt.labels import GroupRule, LabelSet

FORMAT = "palt.benchmark"
SPLITS = ("train", "val", "test")
INPUT_KINDS = ("image", "text", "array")


class BenchmarkError(ValueError):
    """A benchmark directory that is missing a file or holds an invalid one."""


@dataclass
class SplitData:
    """One split: observed labels, optional full labels, and the inputs in label-row order."""

    labels: LabelSet
    full: LabelSet | None = None
    inputs: list[dict[str, Any]] | None = None  # kinds "image" and "text"
    images: np.ndarray | None = None  # kind "array"

    def __post_init__(self) -> None:
        n = self.labels.n_samples
        if self.full is not None and (
            self.full.shape != self.labels.shape or self.full.ids != self.labels.ids
        ):
            raise BenchmarkError("full labels must have the same samples and classes as labels")
        if self.inputs is not None and len(self.inputs) != n:
            raise BenchmarkError(f"{len(self.inputs)} inputs for {n} labelled samples")
        if self.images is not None and len(self.images) != n:
            raise BenchmarkError(f"{len(self.images)} images for {n} labelled samples")


@dataclass
class Benchmark:
    """A benchmark directory loaded for reading (labels in memory, images memory-mapped)."""

    root: Path
    manifest: dict[str, Any]
    splits: dict[str, SplitData] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.root.name))

    @property
    def classes(self) -> tuple[str, ...]:
        return self.splits["train"].labels.classes

    @property
    def input_kind(self) -> str:
        return str(self.manifest["input"]["kind"])

    @property
    def input_root(self) -> Path:
        """Folder that image paths are relative to."""
        root = Path(self.manifest["input"].get("root", "."))
        return root if root.is_absolute() else (self.root / root)

    @property
    def group_rule(self) -> GroupRule:
        return GroupRule.from_dict(self.manifest["group_rule"])

    def groups(self) -> dict[str, list[int]]:
        """Class indices per group, from the observed training positives (as built)."""
        return {g: list(v) for g, v in self.manifest["groups"].items()}

    def image_path(self, split: str, row: int) -> Path:
        """Resolved path of one image; refuses paths that escape the input root."""
        rel = self.splits[split].inputs[row]["path"]  # type: ignore[index]
        root = self.input_root.resolve()
        path = (root / rel).resolve()
        if not path.is_relative_to(root):
            raise BenchmarkError(
                f"{self.root / split / 'inputs.jsonl'} line {row + 1}: path {rel!r} escapes the data root {root}"
            )
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Benchmark:
        """Read and validate a benchmark directory; errors name the file and what is wrong."""
        root = Path(directory)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: benchmark directory not found")
        manifest = read_json(root / "manifest.json")
        _check_manifest(manifest, root / "manifest.json")
        kind = manifest["input"]["kind"]
        splits = {}
        for split in manifest["splits"]:
            folder = root / split
            labels = _load_labels(folder / "labels")
            full = _load_labels(folder / "full") if (folder / "full.json").exists() else None
            inputs = images = None
            if kind in ("image", "text"):
                inputs = _read_jsonl(folder / "inputs.jsonl", "path" if kind == "image" else "text")
            else:
                path = folder / "images.npy"
                if not path.is_file():
                    raise BenchmarkError(f"{path}: file not found")
                images = np.load(path, mmap_mode="r", allow_pickle=False)
            try:
                splits[split] = SplitData(labels, full, inputs, images)
            except BenchmarkError as err:
                raise BenchmarkError(f"{folder}: {err}") from None
        classes = {s.labels.classes for s in splits.values()}
        if len(classes) != 1:
            raise BenchmarkError(f"{root}: splits have different classes")
        return cls(root, manifest, splits)


def write_benchmark(
    directory: str | os.PathLike[str],
    splits: Mapping[str, SplitData],
    *,
    name: str,
    input_kind: str,
    params: Mapping[str, Any],
    seed: int | None,
    group_rule: GroupRule = GroupRule(),  # noqa: B008 - frozen dataclass
    input_root: str | None = None,
    sources: Mapping[str, str | os.PathLike[str]] | None = None,
    counts: Mapping[str, Any] | None = None,
    preset: str | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write a benchmark directory atomically and return its path.

    ``sources`` maps a role name to a source file whose SHA-256 goes into the manifest;
    ``counts`` holds per-class counts after each build step (``{"step": {class: n}}``). Groups are
    assigned by ``group_rule`` from the observed training positives. Equal inputs give
    byte-identical files.
    """
    if input_kind not in INPUT_KINDS:
        raise BenchmarkError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    if "train" not in splits:
        raise BenchmarkError("a benchmark needs a 'train' split")
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise BenchmarkError(f"unknown split names {sorted(unknown)}; allowed {SPLITS}")
    train = splits["train"].labels
    manifest = {
        "format": FORMAT,
        "version": 1,
        "name": name,
        "preset": preset,
        "params": dict(params),
        "seed": seed,
        "palt_version": __version__,
        "sources": {
            k: {"path": Path(p).name, "sha256": sha256_file(p)} for k, p in (sources or {}).items()
        },
        "input": {"kind": input_kind, **({"root": input_root} if input_root is not None else {})},
        "classes": list(train.classes),
        "splits": {s: splits[s].labels.n_samples for s in SPLITS if s in splits},
        "group_rule": group_rule.to_dict(),
        "groups": group_rule.groups(train.positive_counts()),
        "counts": dict(counts or {}),
        "notes": list(notes or []),
    }
    with atomic_dir(directory) as tmp:
        for split_name, data in splits.items():
            if data.labels.classes != train.classes:
                raise BenchmarkError(f"split {split_name!r} has different classes than 'train'")
            folder = tmp / split_name
            folder.mkdir()
            data.labels.save(folder / "labels")
            if data.full is not None:
                data.full.save(folder / "full")
            if input_kind in ("image", "text"):
                if data.inputs is None:
                    raise BenchmarkError(
                        f"split {split_name!r}: input kind {input_kind!r} needs inputs"
                    )
                _write_jsonl(folder / "inputs.jsonl", data.inputs)
            else:
                if data.images is None:
                    raise BenchmarkError(f"split {split_name!r}: input kind 'array' needs images")
                np.save(folder / "images.npy", np.ascontiguousarray(data.images, dtype=np.uint8))
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    return Path(directory)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def class_counts(labels: LabelSet) -> dict[str, dict[str, int]]:
    """Per-class positive / negative / unknown counts, for the manifest's ``counts``."""
    pos, neg, unk = labels.positive_counts(), labels.negative_counts(), labels.unknown_counts()
    return {
        "positive": dict(zip(labels.classes, pos.tolist(), strict=True)),
        "negative": dict(zip(labels.classes, neg.tolist(), strict=True)),
        "unknown": dict(zip(labels.classes, unk.tolist(), strict=True)),
    }


# ---------------------------------------------------------------------- helpers
def _check_manifest(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict):
        raise BenchmarkError(f"{path}: expected a JSON object")
    for key in ("format", "input", "splits", "group_rule", "groups"):
        if key not in manifest:
            raise BenchmarkError(f"{path}: missing key {key!r}")
    if manifest["format"] != FORMAT:
        raise BenchmarkError(f"{path}: 'format' is {manifest['format']!r}, expected {FORMAT!r}")
    kind = manifest["input"].get("kind") if isinstance(manifest["input"], dict) else None
    if kind not in INPUT_KINDS:
        raise BenchmarkError(f"{path}: input.kind must be one of {INPUT_KINDS}, got {kind!r}")
    if "train" not in manifest["splits"]:
        raise BenchmarkError(f"{path}: 'splits' must include 'train'")


def _load_labels(stem: Path) -> LabelSet:
    if not stem.with_suffix(".json").is_file():
        raise BenchmarkError(f"{stem.with_suffix('.json')}: file not found")
    return LabelSet.load(stem)


def _read_jsonl(path: Path, field_name: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise BenchmarkError(f"{path}: file not found")
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise BenchmarkError(f"{path} line {number}: invalid JSON ({err.msg})") from None
            if not isinstance(row, dict) or field_name not in row:
                raise BenchmarkError(
                    f"{path} line {number}: expected an object with key {field_name!r}"
                )
            rows.append(row)
    return rows


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
