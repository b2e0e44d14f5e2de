"""Named benchmark protocols: which source, which steps, which parameters.

A preset is data only; :mod:`palt.data.build` runs it. Steps, in order: read the source (full
labels in record order), long-tailed selection (:mod:`palt.data.longtail`), validation carved by
iterative stratification (:mod:`palt.data.stratify`), missing labels on the training split only
(:mod:`palt.data.missing`). The test split comes from a second source (VOC2007 test, COCO val2017)
or, for the built-in sets, is carved or composed separately.

Sources plug in by name: a *source reader* takes a path and returns the full labels in record
order and the inputs (``{"id", "path"}`` or ``{"id", "text"}``) in the same order.
:func:`register_source` adds one; ``palt build --source-format NAME`` picks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from palt.data.labelcsv import read_label_csv
from palt.data.sources import SOURCE_READERS, VOC_CLASSES
from palt.labels import LabelSet

#: reader(path, path_template) -> (full labels in record order, inputs in the same order)
SourceReader = Callable[[Path, str], tuple[LabelSet, list[dict[str, Any]]]]


@dataclass(frozen=True)
class LongTailSpec:
    """Pareto(b) reference counts between ``max_count`` and ``min_count``; COCO caps additions."""

    b: float
    max_count: int
    min_count: int = 1
    cap_to_available: bool = False


@dataclass(frozen=True)
class MissingSpec:
    """A scheme of :data:`palt.data.missing.SCHEMES` and its rate/size (``None``: default)."""

    scheme: str = "drop-positives"
    value: float | None = 0.4


@dataclass(frozen=True)
class Preset:
    """One protocol. ``kind``: ``"labels"`` (user files), ``"debtags"`` or ``"multimnist"``.

    ``source_format`` is the default reader of a ``"labels"`` preset; ``train_paths`` /
    ``test_paths`` are the image-path templates passed to it (``{id}`` = the row id).
    """

    name: str
    summary: str
    kind: str = "labels"
    source_format: str = "label-csv"
    classes: tuple[str, ...] | None = None
    n_classes: int | None = None
    longtail: LongTailSpec | None = None
    missing: MissingSpec | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    seed: int = 0
    stream_after: str | None = None
    train_paths: str = "{id}"
    test_paths: str = "{id}"
    test_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Parameters for the manifest (JSON types only)."""
        d = asdict(self)
        d["classes"] = list(self.classes) if self.classes else None
        return d


_VOC = {
    "classes": VOC_CLASSES,
    "n_classes": 20,
    "train_paths": "VOC2012/JPEGImages/{id}.jpg",
    "test_paths": "VOC2007/JPEGImages/{id}.jpg",
    "test_name": "VOC2007 test (4,952 images)",
}
_COCO = {
    "n_classes": 80,
    "train_paths": "train2017/{id:0>12}.jpg",
    "test_paths": "val2017/{id:0>12}.jpg",
    "test_name": "COCO val2017 (5,000 images)",
}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "voc-mlt",
            "VOC-MLT (DB loss, ECCV 2020): Pareto b=6, max 800 on VOC2012 trainval → 1,142 images",
            longtail=LongTailSpec(b=6, max_count=800),
            **_VOC,
        ),
        Preset(
            "plt-voc",
            "PLT-VOC (COMIC, ICCV 2023): Pareto b=12, max 1400 → 2,569 images, 40 % positives missing",
            longtail=LongTailSpec(b=12, max_count=1400),
            missing=MissingSpec("drop-positives", 0.4),
            **_VOC,
        ),
        Preset(
            "coco-mlt",
            "COCO-MLT (DB loss): Pareto b=6, max 1200, capped, on COCO train2017 → 1,909 images",
            longtail=LongTailSpec(b=6, max_count=1200, cap_to_available=True),
            stream_after="voc-mlt",
            **_COCO,
        ),
        Preset(
            "plt-coco",
            "PLT-COCO (COMIC): Pareto b=10, max 1400, capped, 40 % positives missing",
            longtail=LongTailSpec(b=10, max_count=1400, cap_to_available=True),
            missing=MissingSpec("drop-positives", 0.4),
            stream_after="plt-voc",
            **_COCO,
        ),
        Preset(
            "custom",
            "Any label table: optional long tail (--pareto-b/--max-count), missing labels, val split",
            source_format="table",
        ),
        Preset(
            "debtags-plt",
            "Built-in Debtags: tags with ≥ 5 packages, natural long tail, stratified 70/10/20, "
            "40 % training positives missing",
            kind="debtags",
            missing=MissingSpec("drop-positives", 0.4),
            val_fraction=0.1,
            test_fraction=0.2,
            extra={"min_tag_count": 5},
        ),
        Preset(
            "multimnist-lt",
            "Composed MNIST digits + Fashion-MNIST items on 64×64 canvases, class prior max/min 500, "
            "40 % training positives missing",
            kind="multimnist",
            missing=MissingSpec("drop-positives", 0.4),
            val_fraction=0.2,
            extra={
                "n_trainval": 15000,
                "n_test": 5000,
                "canvas": 64,
                "items": [1, 4],
                "imbalance": 500.0,
            },
        ),
    )
}

_SOURCES: dict[str, SourceReader] = {}


def register_source(name: str, reader: SourceReader) -> None:
    """Make ``reader`` available as ``palt build --source-format NAME``."""
    if name in _SOURCES:
        raise ValueError(f"source format {name!r} is already registered")
    _SOURCES[name] = reader


def source_reader(name: str) -> SourceReader:
    """The registered reader called ``name``; a clear error lists the known ones."""
    if name not in _SOURCES:
        raise ValueError(f"unknown source format {name!r}; known: {sorted(_SOURCES)}")
    return _SOURCES[name]


def source_formats() -> list[str]:
    return sorted(_SOURCES)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]


register_source("label-csv", read_label_csv)
for _name, _reader in SOURCE_READERS.items():  # coco, voc, openimages, table and variants
    register_source(_name, _reader)
