"""COCO instances JSON (``annotations/instances_{train,val}{2014,2017}.json``) → image-level labels.

Read with the standard library (no ``pycocotools``). Class ``c`` of image ``n`` is positive iff
the image has at least one instance annotation of category ``c``; every other entry is an
annotated negative (COCO annotates its 80 categories exhaustively), so the labels are complete.

* **Class order**: ascending category id (1..90 with gaps for the 80 categories of 2014/2017),
  which is the order of DB-loss's and COMIC's label vectors and of ``category.txt`` in COMIC.
* **Crowd** annotations (``iscrowd=1``) count as positives by default, as in every anchor
  (ASL/CSL/ML-Decoder through ``pycocotools``, DB's and COMIC's annotation scripts);
  ``count_crowd=False`` ignores them.
* **Images without annotations** are kept by default (all 118,287 / 5,000 train2017 / val2017
  images: the DB-loss and COMIC test set is the full val2017). ``keep_empty=False`` drops every
  image left without a positive, as the ASL family does (COCO-2014 train: 82,081 of 82,783
  images; val: 40,137 of 40,504).
* **Record order**: the order of the ``images`` list in the file.

Sample ids are the integer image ids as strings (``"397133"``), the ids of the DB-loss lists.
The image path comes from ``path_template`` with the fields ``{id}`` and ``{file_name}``
(default ``"{file_name}"``; the COCO presets use ``"train2017/{id:0>12}.jpg"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from palt._io import read_json
from palt.data.sources._common import SourceError, check_relative_path, format_path, require_file
from palt.labels import LabelSet


def read_coco(
    path: str | os.PathLike[str],
    *,
    path_template: str = "{file_name}",
    count_crowd: bool = True,
    keep_empty: bool = True,
) -> tuple[LabelSet, list[dict[str, Any]]]:
    """Dense complete labels (1 / 0) of every image and the inputs ``{"id", "path"}``.

    Errors name the file and the JSON key (``annotations[12].category_id``) that is wrong.
    """
    p = require_file(path, "COCO annotation file")
    try:
        data = read_json(p)
    except ValueError as err:
        raise SourceError(str(err)) from None
    if not isinstance(data, dict):
        raise SourceError(f"{p}: expected a JSON object with 'images', 'annotations', 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise SourceError(f"{p}: key {key!r} missing or not a list")

    cat_ids, names = _categories(data["categories"], p)
    column = {cid: k for k, cid in enumerate(cat_ids)}
    image_ids, file_names = _images(data["images"], p)
    row_of = {iid: r for r, iid in enumerate(image_ids)}

    labels = np.zeros((len(image_ids), len(cat_ids)), dtype=np.int8)
    for k, ann in enumerate(data["annotations"]):
        where = f"{p}: annotations[{k}]"
        if not isinstance(ann, dict):
            raise SourceError(f"{where}: expected an object")
        image_id, cat_id = ann.get("image_id"), ann.get("category_id")
        if image_id not in row_of:
            raise SourceError(f"{where}.image_id: {image_id!r} is not an id in 'images'")
        if cat_id not in column:
            raise SourceError(
                f"{where}.category_id: unknown category {cat_id!r} (not in 'categories')"
            )
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise SourceError(f"{where}.iscrowd: expected 0 or 1, got {crowd!r}")
        if crowd and not count_crowd:
            continue
        labels[row_of[image_id], column[cat_id]] = 1

    rows = np.arange(len(image_ids)) if keep_empty else np.flatnonzero(labels.any(axis=1))
    ids = [str(image_ids[r]) for r in rows]
    inputs = [
        {
            "id": i,
            "path": format_path(path_template, f"{p}: image {i}", id=i, file_name=file_names[r]),
        }
        for i, r in zip(ids, rows, strict=True)
    ]
    return LabelSet.from_dense(labels[rows], names, ids), inputs


def _categories(items: list[Any], p: Path) -> tuple[list[int], list[str]]:
    seen: dict[int, int] = {}
    pairs = []
    for k, cat in enumerate(items):
        where = f"{p}: categories[{k}]"
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            raise SourceError(f"{where}.id: expected an integer category id")
        if not isinstance(cat.get("name"), str) or not cat["name"]:
            raise SourceError(f"{where}.name: expected a non-empty string")
        if cat["id"] in seen:
            raise SourceError(
                f"{where}.id: category id {cat['id']} repeats categories[{seen[cat['id']]}]"
            )
        seen[cat["id"]] = k
        pairs.append((cat["id"], cat["name"]))
    if not pairs:
        raise SourceError(f"{p}: 'categories' is empty")
    pairs.sort()
    names = [n for _, n in pairs]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SourceError(f"{p}: category name {dup!r} is used by two category ids")
    return [c for c, _ in pairs], names


def _images(items: list[Any], p: Path) -> tuple[list[int], list[str]]:
    seen: dict[int, int] = {}
    ids, files = [], []
    for k, img in enumerate(items):
        where = f"{p}: images[{k}]"
        if not isinstance(img, dict) or not _is_int(img.get("id")):
            raise SourceError(f"{where}.id: expected an integer image id")
        if img["id"] in seen:
            raise SourceError(
                f"{where}.id: duplicated image id {img['id']} (also images[{seen[img['id']]}])"
            )
        if not isinstance(img.get("file_name"), str):
            raise SourceError(f"{where}.file_name: expected a string")
        seen[img["id"]] = k
        ids.append(img["id"])
        files.append(check_relative_path(img["file_name"], f"{where}.file_name"))
    return ids, files


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
