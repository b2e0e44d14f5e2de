"""Pascal VOC 2007 / 2012 (``VOCdevkit/VOC20xx``) → image-level labels.

The source is a split file, ``VOC20xx/ImageSets/Main/<split>.txt`` (e.g. ``trainval.txt``,
``test.txt``); its ids fix the record order (VOC2012 trainval: the order of DB-loss's
``terse_gt_2012``). Per-class flags come from ``ImageSets/Main/<class>_<split>.txt``
(``1`` present, ``-1`` absent, ``0`` only *difficult* objects), or, with
``labels_from="annotations"``, from ``Annotations/<id>.xml`` (a class is flag 1 when one of its
objects is not difficult, 0 when all its objects are difficult, −1 when it has none).
``labels_from="auto"`` uses the class files when all of them exist and the XML files when none
exists; a partial set of class files is an error.

The ``difficult`` policy maps flag 0 (:func:`palt.labels.from_voc`):

* ``"negative"`` (**default**) — flag 1 only is positive, as in COMIC's PLT-VOC training and
  test labels (Zhang et al., ICCV 2023, ``tools/LT_voc_annotation.py``) and Large-Loss-Matters
  (Kim et al., CVPR 2022, ``preproc/format_pascal.py``);
* ``"positive"`` — every object counts, as in DB-loss's ``terse_gt`` labels behind VOC-MLT
  (Wu et al., ECCV 2020);
* ``"ignore"`` — unknown (−1), as mmpretrain's ``VOC`` dataset.

Image paths come from ``path_template`` with the field ``{id}`` (default
``"JPEGImages/{id}.jpg"``, relative to the ``VOC20xx`` folder; the VOC presets use
``"VOC2012/JPEGImages/{id}.jpg"`` relative to ``VOCdevkit``).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from palt.data.sources._common import SourceError, check_plain_id, path_maker, require_file
from palt.labels import LabelSet, from_voc
from palt.labels.encodings import DifficultPolicy

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
DEFAULT_DIFFICULT: DifficultPolicy = "negative"
LabelsFrom = Literal["auto", "imagesets", "annotations"]


def read_voc(
    split_file: str | os.PathLike[str],
    *,
    difficult: DifficultPolicy = DEFAULT_DIFFICULT,
    labels_from: LabelsFrom = "auto",
    classes: Sequence[str] = VOC_CLASSES,
    path_template: str = "JPEGImages/{id}.jpg",
) -> tuple[LabelSet, list[dict[str, Any]]]:
    """Labels of one VOC split in split-file order and the inputs ``{"id", "path"}``."""
    if difficult not in ("positive", "negative", "ignore"):
        raise SourceError(
            f"difficult must be 'positive', 'negative' or 'ignore', got {difficult!r}"
        )
    split_path = require_file(split_file, "VOC split file (ImageSets/Main/<split>.txt)")
    if split_path.parent.name != "Main" or split_path.parent.parent.name != "ImageSets":
        raise SourceError(f"{split_path}: expected a file inside <VOC20xx>/ImageSets/Main/")
    year_dir, split = split_path.parents[2], split_path.stem
    ids = _read_split(split_path)
    class_files = [split_path.parent / f"{c}_{split}.txt" for c in classes]
    present = [f.is_file() for f in class_files]
    if labels_from == "auto":
        if all(present):
            labels_from = "imagesets"
        elif not any(present):
            labels_from = "annotations"
        else:
            missing = class_files[present.index(False)]
            raise SourceError(
                f"{missing}: class file not found, but other <class>_{split}.txt files exist; "
                "give all of them or none (labels_from='annotations' reads the XML files)"
            )
    if labels_from == "imagesets":
        flags = np.stack([_read_class_file(f, ids) for f in class_files], axis=1)
    elif labels_from == "annotations":
        flags = np.stack([_xml_flags(year_dir / "Annotations" / f"{i}.xml", classes) for i in ids])
    else:
        raise SourceError(
            f"labels_from must be 'auto', 'imagesets' or 'annotations', got {labels_from!r}"
        )
    labels = from_voc(flags.reshape(len(ids), len(classes)), difficult, classes, ids)
    make_path = path_maker(path_template, f"{split_path}: path template")
    inputs = [{"id": i, "path": make_path(i)} for i in ids]
    return labels, inputs


def _read_split(path: Path) -> list[str]:
    ids: list[str] = []
    first: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 1:
                raise SourceError(
                    f"{path} line {line_no}: expected one image id, got {len(fields)} fields"
                )
            image_id = check_plain_id(fields[0], f"{path} line {line_no}")
            if image_id in first:
                raise SourceError(
                    f"{path} line {line_no}: duplicated id {image_id!r} (first on line {first[image_id]})"
                )
            first[image_id] = line_no
            ids.append(image_id)
    if not ids:
        raise SourceError(f"{path}: no image ids")
    return ids


def _read_class_file(path: Path, ids: list[str]) -> np.ndarray:
    """Flags of one ``<class>_<split>.txt`` in the order of ``ids`` (every id exactly once)."""
    position = {i: k for k, i in enumerate(ids)}
    require_file(path, "VOC class file")
    flags = np.full(len(ids), 2, dtype=np.int8)  # 2 = not listed yet
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise SourceError(
                    f"{path} line {line_no}: expected '<image id> <flag>', got {len(fields)} fields"
                )
            image_id, flag = fields
            if image_id not in position:
                raise SourceError(
                    f"{path} line {line_no}: id {image_id!r} is not in the split file"
                )
            if flag not in ("1", "0", "-1"):
                raise SourceError(f"{path} line {line_no}: flag {flag!r}; expected 1, 0 or -1")
            k = position[image_id]
            if flags[k] != 2:
                raise SourceError(f"{path} line {line_no}: id {image_id!r} listed twice")
            flags[k] = int(flag)
    if np.any(flags == 2):
        missing = ids[int(np.flatnonzero(flags == 2)[0])]
        raise SourceError(f"{path}: id {missing!r} of the split file is not listed")
    return flags


def _xml_flags(path: Path, classes: Sequence[str]) -> np.ndarray:
    """VOC flags (1 / 0 / −1) of one annotation file."""
    require_file(path, "VOC annotation file")
    text = path.read_text(encoding="utf-8")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise SourceError(f"{path}: DTDs and entities are not allowed in VOC annotations")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        line, col = err.position
        raise SourceError(f"{path}: invalid XML at line {line}, column {col}") from None
    column = {c: k for k, c in enumerate(classes)}
    flags = np.full(len(classes), -1, dtype=np.int8)
    for k, obj in enumerate(root.findall("object")):
        name = (obj.findtext("name") or "").strip()
        if name not in column:
            raise SourceError(f"{path}: object {k} has unknown class name {name!r}")
        difficult = (obj.findtext("difficult") or "0").strip()
        if difficult not in ("0", "1"):
            raise SourceError(f"{path}: object {k} <difficult> is {difficult!r}; expected 0 or 1")
        flag = 0 if difficult == "1" else 1
        flags[column[name]] = max(flags[column[name]], flag)
    return flags
