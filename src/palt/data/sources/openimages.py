"""OpenImages human-verified image-level labels → sparse labels (never an N×C matrix).

Inputs (names of V6; earlier versions differ only in prefixes):

* the labels, ``oidv6-train-annotations-human-imagelabels.csv`` (``…-validation-…``,
  ``…-test-…``): header ``ImageID,Source,LabelName,Confidence``, tens of millions of rows;
* optionally the trainable classes, ``oidv6-classes-trainable.txt``: one MID per line (≈ 9.6k);
  it fixes the label space and its order, and rows of other classes are skipped;
* optionally the class descriptions, ``oidv6-class-descriptions.csv``: ``LabelName,DisplayName``
  (header optional, as in earlier versions) — for display names instead of MIDs.

States (OpenImages READMEV2): ``Confidence`` 1 → positive (human-verified present), 0 → negative
(verified absent); any other confidence in [0, 1] (machine-generated) and every (image, class)
pair that is not listed → unknown. Images enter in order of their first kept row; an image
without any kept row (no verified label in the label space) is left out.

Memory: one pass with the stdlib :mod:`csv` reader; kept rows go into compact ``array``
buffers (8 bytes each: the row and the class, a negative stored as ``~class``), flushed to numpy chunks, so the peak is a small
multiple of the sparse result, independent of the N×C size. An (image, class) pair listed twice
with the same state is kept once; with both states it is an error unless ``conflicts`` says
``"unknown"`` (drop the pair) or ``"positive"``.
"""

from __future__ import annotations

import csv
import os
from array import array
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from palt.data.sources._common import (
    SourceError,
    check_plain_id,
    path_maker,
    read_name_list,
    require_file,
)
from palt.labels import LabelSet

Conflicts = Literal["error", "unknown", "positive"]
_HEADER = ("ImageID", "LabelName", "Confidence")
_FLUSH = 1 << 22  # kept rows per numpy chunk


def read_trainable_classes(path: str | os.PathLike[str]) -> list[str]:
    """MIDs of the trainable-class list, in file order (duplicates are an error)."""
    return read_name_list(path, "OpenImages trainable-class list")


def read_class_descriptions(path: str | os.PathLike[str]) -> dict[str, str]:
    """MID → display name from ``class-descriptions.csv`` (with or without a header line)."""
    p = require_file(path, "OpenImages class descriptions")
    names: dict[str, str] = {}
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        for row in reader:
            if not row:
                continue
            if len(row) != 2:
                raise SourceError(
                    f"{p} line {reader.line_num}: expected 2 columns (LabelName,DisplayName), "
                    f"got {len(row)}"
                )
            if reader.line_num == 1 and row == ["LabelName", "DisplayName"]:
                continue
            if row[0] in names:
                raise SourceError(f"{p} line {reader.line_num}: class {row[0]!r} described twice")
            names[row[0]] = row[1]
    return names


def read_openimages(
    labels_csv: str | os.PathLike[str],
    *,
    classes: Sequence[str] | None = None,
    descriptions: dict[str, str] | None = None,
    conflicts: Conflicts = "error",
    path_template: str = "{id}.jpg",
) -> tuple[LabelSet, list[dict[str, Any]]]:
    """Sparse labels (``unlisted="unknown"``) and inputs ``{"id", "path"}`` of one label file.

    ``classes``: the label space as MIDs (e.g. :func:`read_trainable_classes`); ``None`` takes
    every MID with a verified row, sorted. ``descriptions``: MID → display name; when given,
    classes are named by display name, with `` (MID)`` appended to names that several MIDs share.
    """
    if conflicts not in ("error", "unknown", "positive"):
        raise SourceError(f"conflicts must be 'error', 'unknown' or 'positive', got {conflicts!r}")
    p = require_file(labels_csv, "OpenImages label file")
    make_path = path_maker(path_template, f"{p}: path template")
    fixed = classes is not None
    column: dict[str, int] = {}
    if fixed:
        for k, mid in enumerate(classes):  # type: ignore[arg-type]
            if mid in column:
                raise SourceError(f"classes: {mid!r} is listed twice")
            column[mid] = k
    image_row, chunks = _stream(p, column, fixed)
    if not image_row:
        raise SourceError(f"{p}: no verified (confidence 0 or 1) label in the label space")

    mids = list(column)
    r_all = np.concatenate([c[0] for c in chunks])
    c_all = np.concatenate([c[1] for c in chunks])
    del chunks
    s_all = (c_all >= 0).astype(np.int8)
    np.invert(c_all, out=c_all, where=c_all < 0)
    if not fixed:  # sort the discovered classes by MID
        order = np.argsort(np.array(mids, dtype=object), kind="stable")
        remap = np.empty(len(mids), np.int32)
        remap[order] = np.arange(len(mids), dtype=np.int32)
        c_all = remap[c_all]
        mids = [mids[k] for k in order]
    ids = tuple(image_row)
    del image_row
    names = _display_names(mids, descriptions) if descriptions is not None else mids
    labels = _to_labelset(r_all, c_all, s_all, ids, mids, names, conflicts, p)
    inputs = [{"id": i, "path": make_path(i)} for i in ids]
    return labels, inputs


def _stream(p: Path, column: dict[str, int], fixed: bool) -> tuple[dict[str, int], list]:
    """One pass over the CSV: image ids in first-kept order and (row, class) chunks.

    A negative is stored as ``~class`` so that one ``int32`` per row and per class suffices.
    """
    image_row: dict[str, int] = {}
    chunks: list[tuple[np.ndarray, np.ndarray]] = []
    rows, cols = array("i"), array("i")
    last_image, r = None, -1
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or not set(_HEADER) <= set(header):
            raise SourceError(f"{p} line 1: expected a header with columns {', '.join(_HEADER)}")
        width = len(header)
        i_img, i_lab, i_conf = (header.index(h) for h in _HEADER)
        for row in reader:
            if len(row) != width:
                if not row:
                    continue
                raise SourceError(
                    f"{p} line {reader.line_num}: expected {width} columns, got {len(row)}"
                )
            k = column.get(row[i_lab])
            if k is None and fixed:
                continue
            conf = row[i_conf]
            state = 1 if conf == "1" else 0 if conf == "0" else _state(conf, p, reader.line_num)
            if state < 0:
                continue
            if k is None:
                k = column[row[i_lab]] = len(column)
            image = row[i_img]
            if image != last_image:
                r = image_row.get(image, -1)
                if r < 0:
                    check_plain_id(image, f"{p} line {reader.line_num}")
                    r = image_row[image] = len(image_row)
                last_image = image
            rows.append(r)
            cols.append(k if state else ~k)
            if len(rows) >= _FLUSH:
                chunks.append(_as_numpy(rows, cols))
                rows, cols = array("i"), array("i")
    chunks.append(_as_numpy(rows, cols))
    return image_row, chunks


def _state(value: str, p: Path, line: int) -> int:
    """1 / 0 for verified labels, −1 for any other confidence in [0, 1]."""
    if value == "1":
        return 1
    if value == "0":
        return 0
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not 0.0 <= x <= 1.0:
        raise SourceError(f"{p} line {line}: Confidence {value!r}; expected a number in [0, 1]")
    return 1 if x == 1.0 else 0 if x == 0.0 else -1


def _as_numpy(rows: array, cols: array) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(rows, np.int32).copy(), np.frombuffer(cols, np.int32).copy()


def _to_labelset(
    r: np.ndarray,
    c: np.ndarray,
    s: np.ndarray,
    ids: tuple[str, ...],
    mids: list[str],
    names: list[str],
    conflicts: Conflicts,
    p: Path,
) -> LabelSet:
    """CSR of positives and negatives from (row, class, state) triples, duplicates resolved."""
    n, n_classes = len(ids), len(mids)
    key = r.astype(np.int64) * n_classes + c
    del r, c
    order = np.lexsort((s, key))
    key, s = key[order], s[order]
    del order
    first = np.ones(len(key), bool)
    first[1:] = (key[1:] != key[:-1]) | (s[1:] != s[:-1])
    key, s = key[first], s[first]
    del first
    # after de-duplication a key repeats only with both states: (…, 0) then (…, 1)
    clash = np.flatnonzero(key[1:] == key[:-1])
    if len(clash):
        if conflicts == "error":
            row, k = divmod(int(key[clash[0]]), n_classes)
            raise SourceError(
                f"{p}: image {ids[row]!r}, class {mids[k]!r} is listed with Confidence 1 and 0 "
                f"({len(clash)} such pairs; conflicts='unknown' or 'positive' resolves them)"
            )
        drop = np.zeros(len(key), bool)
        drop[clash] = True  # the negative of each clashing pair
        if conflicts == "unknown":
            drop[clash + 1] = True
        key, s = key[~drop], s[~drop]
    row, col = np.divmod(key, n_classes)
    del key
    pos, neg = s == 1, s == 0
    return LabelSet.from_csr(
        _indptr(row[pos], n),
        col[pos],
        _indptr(row[neg], n),
        col[neg],
        classes=names,
        ids=ids,
        unlisted="unknown",
    )


def _indptr(sorted_rows: np.ndarray, n: int) -> np.ndarray:
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(sorted_rows, minlength=n), out=ptr[1:])
    return ptr


def _display_names(mids: list[str], descriptions: dict[str, str]) -> list[str]:
    missing = [m for m in mids if m not in descriptions]
    if missing:
        raise SourceError(f"class descriptions: no display name for {missing[0]!r}")
    shown = [descriptions[m] for m in mids]
    uses = Counter(shown)
    return [f"{n} ({m})" if uses[n] > 1 else n for n, m in zip(shown, mids, strict=True)]
