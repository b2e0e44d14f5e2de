"""Debtags: Debian packages labelled with their Debtags tags, from the snapshot shipped in palt.

The snapshot (``palt/builtin/debtags.jsonl.gz`` + ``debtags.json``) is built by
``scripts/build_debtags_snapshot.py`` from Debian bookworm's package index; the give-away facets
(``role::``, ``implemented-in::``, ``devel::lang``, ``special::``, ``suite::``, ``made-of::``,
``*TODO*``) are already removed. Nothing is downloaded.

Labels are sparse with ``unlisted="negative"``: a tag a package does not carry counts as
"not annotated with that tag". Debtags is known to be incomplete, so these negatives — in the
test split as much as in training — are partly missing positives; precision measured against
them is biased low. Report it as "against observed tags". See ``docs/data/debtags.md``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from palt._io import read_json
from palt.labels import LabelSet

SNAPSHOT = "debtags.jsonl.gz"
MANIFEST = "debtags.json"


class SnapshotError(ValueError):
    """The Debtags snapshot is missing, damaged or does not match its manifest."""


@dataclass(frozen=True)
class DebtagsData:
    """Packages in snapshot order (sorted by name): labels, input texts and package names."""

    labels: LabelSet
    texts: list[str]
    ids: list[str]
    manifest: dict[str, Any]


def snapshot_dir() -> Path:
    """The folder of the snapshot shipped inside the installed package."""
    return Path(str(resources.files("palt") / "builtin"))


def package_text(row: dict[str, Any]) -> str:
    """The input text of one package::

    <package>
    section: <section>
    <short description>
    <long description, paragraphs separated by blank lines>
    depends: <name> <name> ...
    """
    return (
        f"{row['package']}\nsection: {row['section']}\n{row['short']}\n{row['long']}\n"
        f"depends: {' '.join(row['depends'])}"
    )


def read_snapshot(
    folder: str | os.PathLike[str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, manifest) of the snapshot, after checking sha256 and row count against the manifest."""
    folder = Path(folder) if folder is not None else snapshot_dir()
    manifest_path, data_path = folder / MANIFEST, folder / SNAPSHOT
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or "sha256" not in manifest or "rows" not in manifest:
        raise SnapshotError(f"{manifest_path}: expected an object with keys 'sha256' and 'rows'")
    if not data_path.is_file():
        raise SnapshotError(f"{data_path}: snapshot file not found")
    data = data_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest["sha256"]:
        raise SnapshotError(
            f"{data_path} is damaged: sha256 {digest} but {manifest_path} expects "
            f"{manifest['sha256']}; reinstall palt or rebuild it with "
            "scripts/build_debtags_snapshot.py"
        )
    rows = [json.loads(line) for line in gzip.decompress(data).decode("utf-8").splitlines()]
    if len(rows) != manifest["rows"]:
        raise SnapshotError(
            f"{data_path}: {len(rows)} rows but {manifest_path} says {manifest['rows']}"
        )
    return rows, manifest


def load_debtags(min_count: int = 5, snapshot: str | os.PathLike[str] | None = None) -> DebtagsData:
    """Packages × tags with at least ``min_count`` packages, and the packages' texts.

    Packages left with no tag after dropping the rare tags are dropped too: a row without any
    tag would be an all-negative row, but an untagged package in Debtags means "not reviewed".
    Classes are sorted by name. ``snapshot`` is a folder holding ``debtags.jsonl.gz`` and
    ``debtags.json`` (default: the one shipped in palt).
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    rows, manifest = read_snapshot(snapshot)
    counts = Counter(t for r in rows for t in r["tags"])
    classes = sorted(t for t, n in counts.items() if n >= min_count)
    index = {t: i for i, t in enumerate(classes)}
    kept = [r for r in rows if any(t in index for t in r["tags"])]
    positives = [[index[t] for t in r["tags"] if t in index] for r in kept]
    ids = [r["package"] for r in kept]
    labels = LabelSet.from_lists(positives, classes=classes, ids=ids, unlisted="negative")
    return DebtagsData(labels, [package_text(r) for r in kept], ids, manifest)
