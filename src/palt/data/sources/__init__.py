"""Readers of the datasets users bring: COCO, Pascal VOC, OpenImages, generic CSV/JSONL tables.

Every reader returns the labels in record order as a :class:`~palt.labels.LabelSet` and the
inputs in the same order (``{"id", "path"}`` or ``{"id", "text"}``); errors name the file and
the line or key. :data:`SOURCE_READERS` holds the variants ``palt build --source-format NAME``
offers; each takes ``(path, path_template)`` (see :mod:`palt.data.presets`).

| name | reader and options | matches |
|---|---|---|
| ``coco`` | :func:`read_coco`, crowd counted, images without annotations kept | DB loss, COMIC |
| ``coco-nonempty`` | :func:`read_coco`, images without annotations dropped | ASL, CSL, ML-Decoder |
| ``voc`` | :func:`read_voc`, difficult-only → negative (default) | COMIC, Large-Loss-Matters |
| ``voc-difficult-positive`` | :func:`read_voc`, every object counts | DB loss (VOC-MLT) |
| ``voc-difficult-ignore`` | :func:`read_voc`, difficult-only → unknown | mmpretrain |
| ``openimages`` | :func:`read_openimages`; label space from a ``*trainable*.txt`` beside the CSV | CSL |
| ``table`` | :func:`read_table` (``docs/data/table-format.md``) | — |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from palt.data.sources._common import SourceError
from palt.data.sources.coco import read_coco
from palt.data.sources.openimages import (
    read_class_descriptions,
    read_openimages,
    read_trainable_classes,
)
from palt.data.sources.table import read_table
from palt.data.sources.voc import DEFAULT_DIFFICULT, VOC_CLASSES, read_voc
from palt.labels import LabelSet

Reader = Callable[[Path, str], tuple[LabelSet, list[dict[str, Any]]]]


def _with(reader: Callable[..., Any], **options: Any) -> Reader:
    def read(path: Path, path_template: str) -> tuple[LabelSet, list[dict[str, Any]]]:
        return reader(path, path_template=path_template, **options)

    read.__doc__ = f"{reader.__name__}(path, path_template, **{options!r})"
    return read


def read_openimages_beside(path: Path, path_template: str) -> tuple[LabelSet, list[dict[str, Any]]]:
    """OpenImages labels with the label space of the one ``*trainable*.txt`` beside the CSV.

    Without such a file the label space is every MID with a verified row; with several it is an
    error (pass ``classes=`` to :func:`read_openimages` instead).
    """
    found = sorted(Path(path).parent.glob("*trainable*.txt"))
    if len(found) > 1:
        raise SourceError(
            f"{Path(path).parent}: several trainable-class lists {[f.name for f in found]}; "
            "keep one beside the label CSV"
        )
    classes = read_trainable_classes(found[0]) if found else None
    return read_openimages(path, classes=classes, path_template=path_template)


SOURCE_READERS: dict[str, Reader] = {
    "coco": _with(read_coco),
    "coco-nonempty": _with(read_coco, keep_empty=False),
    "voc": _with(read_voc, difficult=DEFAULT_DIFFICULT),
    "voc-difficult-positive": _with(read_voc, difficult="positive"),
    "voc-difficult-ignore": _with(read_voc, difficult="ignore"),
    "openimages": read_openimages_beside,
    "table": _with(read_table),
}

__all__ = [
    "DEFAULT_DIFFICULT",
    "SOURCE_READERS",
    "VOC_CLASSES",
    "SourceError",
    "read_class_descriptions",
    "read_coco",
    "read_openimages",
    "read_openimages_beside",
    "read_table",
    "read_trainable_classes",
    "read_voc",
]
