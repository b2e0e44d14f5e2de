"""The plain label table of the DB-loss appendix: ``image_id`` then one 0/1 column per class.

::

    image_id,aeroplane,bicycle,...,tvmonitor
    2008_000002,0,0,...,1

Rows stay in file order (the long-tail sampler depends on it). Values are ``1`` (positive),
``0`` (negative) and, as an extension, ``-1`` (unknown). Image paths are made from the id with a
template such as ``"VOC2012/JPEGImages/{id}.jpg"``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from palt.labels import LabelSet

_VALUES = {"1": 1, "0": 0, "-1": -1}


def read_label_csv(
    path: str | os.PathLike[str], path_template: str = "{id}"
) -> tuple[LabelSet, list[dict[str, Any]]]:
    """Full labels in file order and the inputs ``{"id", "path"}``; errors name file and line."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: label file not found")
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or len(header) < 2:
            raise ValueError(f"{p} line 1: expected a header 'image_id,<class>,<class>,...'")
        names = [h.strip() for h in header[1:]]
        width = len(header)
        ids: list[str] = []
        rows: list[list[int]] = []
        first_line: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != width:
                raise ValueError(f"{p} line {line}: expected {width} columns, got {len(row)}")
            image_id = row[0].strip()
            if not image_id:
                raise ValueError(f"{p} line {line}: empty image id")
            if image_id in first_line:
                raise ValueError(
                    f"{p} line {line}: image id {image_id!r} already on line {first_line[image_id]}"
                )
            first_line[image_id] = line
            try:
                rows.append([_VALUES[v.strip()] for v in row[1:]])
            except KeyError:
                bad = next(k for k, v in enumerate(row[1:]) if v.strip() not in _VALUES)
                raise ValueError(
                    f"{p} line {line}, column {names[bad]!r}: value {row[bad + 1]!r}; "
                    "expected 1, 0 or -1"
                ) from None
            ids.append(image_id)
    if not ids:
        raise ValueError(f"{p}: no data rows after the header")
    matrix = np.array(rows, dtype=np.int8)
    labels = LabelSet.from_dense(matrix, names, ids)
    inputs = [{"id": i, "path": path_template.format(id=i)} for i in ids]
    return labels, inputs
