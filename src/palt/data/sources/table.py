"""A generic label table, CSV or JSONL: one sample per record, an input and its labels.

The schema is documented with examples in ``docs/data/table-format.md``. In short, the reserved
columns (CSV) or keys (JSONL) are

* ``id`` — sample id (optional when ``path`` is given: the path is the id); a CSV may call it
  ``image_id``, so the DB-appendix tables of :mod:`palt.data.labelcsv` read the same here;
* ``path`` *or* ``text`` — the input (an image path relative to the data root, or a text);
  without either, the path is made from the id with ``path_template``;
* labels in one of two forms:

  - **lists**: ``positives`` and optionally ``negatives``, class names separated by ``|`` in CSV,
    JSON lists in JSONL. With a ``negatives`` column every class in neither list is unknown (−1);
    without it the positives are complete and every other class is negative (the "assume
    negative" files of ML-Decoder, mmpretrain, COMIC). ``unlisted=`` overrides the rule.
  - **dense**: CSV — one column per class holding ``1``, ``0`` or ``-1``; JSONL — ``labels``, a
    list of 1 / 0 / −1 in the order of the class list.

The class list is ``classes=`` or the file ``<stem>.classes.txt`` beside the table (one name per
line); list-form names outside it are errors. Without it, the classes of a CSV dense table are
its class columns, and those of a list table are the sorted names that occur in it. Records keep
file order. Every error names the file and line.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from palt.data.sources._common import (
    SourceError,
    check_relative_path,
    format_path,
    read_name_list,
    require_file,
)
from palt.labels import LabelSet

RESERVED = ("id", "path", "text", "positives", "negatives", "labels")
SEPARATOR = "|"
_DENSE_VALUES = {"1": 1, "0": 0, "-1": -1}


@dataclass
class _Record:
    line: int
    id: str
    input_key: str  # "path" or "text"
    input_value: str
    positives: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    dense: list[int] | None = None


def classes_sidecar(path: str | os.PathLike[str]) -> Path:
    """``table.csv`` → ``table.classes.txt`` (the optional class list beside a table)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.classes.txt")


def read_table(
    path: str | os.PathLike[str],
    *,
    classes: Sequence[str] | None = None,
    unlisted: Literal["unknown", "negative"] | None = None,
    path_template: str = "{id}",
) -> tuple[LabelSet, list[dict[str, Any]]]:
    """Labels in record order and the inputs (``{"id", "path"}`` or ``{"id", "text"}``)."""
    p = require_file(path, "label table")
    if unlisted not in (None, "unknown", "negative"):
        raise SourceError(f"unlisted must be 'unknown', 'negative' or None, got {unlisted!r}")
    if classes is None and classes_sidecar(p).is_file():
        classes = read_name_list(classes_sidecar(p), "class list")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        records, columns, header_classes = _read_csv(p, path_template)
    elif suffix in (".jsonl", ".ndjson"):
        records, columns = _read_jsonl(p, path_template)
        header_classes = None
    else:
        raise SourceError(f"{p}: expected a .csv or .jsonl file, got {suffix or 'no suffix'!r}")
    if not records:
        raise SourceError(f"{p}: no records")
    _check_unique_ids(records, p)
    inputs = [{"id": r.id, r.input_key: r.input_value} for r in records]

    if "positives" in columns:
        rule = unlisted or ("unknown" if "negatives" in columns else "negative")
        return _list_labels(records, classes, rule, p), inputs
    labels = _dense_labels(records, header_classes or classes, p)
    if classes is not None and header_classes is not None and list(classes) != header_classes:
        raise SourceError(
            f"{p} line 1: class columns {header_classes} differ from the class list {list(classes)}"
        )
    if unlisted == "negative" and np.any(labels.unknown_counts()):
        raise SourceError(f"{p}: unlisted='negative' but the dense labels contain -1")
    return labels, inputs


def _list_labels(
    records: list[_Record], classes: Sequence[str] | None, unlisted: str, p: Path
) -> LabelSet:
    """Sparse labels from name lists; classes from the list given, else the sorted names used."""
    names = (
        list(classes)
        if classes is not None
        else sorted({n for r in records for n in (*r.positives, *r.negatives)})
    )
    if not names:
        raise SourceError(f"{p}: no class name in any record and no class list")
    pos, neg = _list_indices(records, names, p)
    ids = [r.id for r in records]
    return LabelSet.from_lists(pos, neg, classes=names, ids=ids, unlisted=unlisted)  # type: ignore[arg-type]


def _dense_labels(records: list[_Record], classes: Sequence[str] | None, p: Path) -> LabelSet:
    if classes is None:
        raise SourceError(
            f"{p}: a dense 'labels' list needs the class list ({classes_sidecar(p).name} or classes=)"
        )
    for r in records:
        if len(r.dense) != len(classes):  # type: ignore[arg-type]
            raise SourceError(
                f"{p} line {r.line}: {len(r.dense)} label values for {len(classes)} classes"  # type: ignore[arg-type]
            )
    matrix = np.array([r.dense for r in records], dtype=np.int8)
    return LabelSet.from_dense(matrix, classes, [r.id for r in records])


# ---------------------------------------------------------------------- CSV
def _read_csv(p: Path, template: str) -> tuple[list[_Record], set[str], list[str] | None]:
    with open(p, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise SourceError(f"{p} line 1: expected a header row")
        if "image_id" in header and "id" not in header:  # the DB-appendix / label-csv header
            header[header.index("image_id")] = "id"
        if len(set(header)) != len(header):
            dup = next(h for h in header if header.count(h) > 1)
            raise SourceError(f"{p} line 1: column {dup!r} appears twice")
        columns = set(header) & set(RESERVED)
        class_cols = [h for h in header if h not in RESERVED]
        _check_columns(columns, p, "line 1")
        if "labels" in columns:
            raise SourceError(
                f"{p} line 1: 'labels' is a JSONL key; a CSV dense table has one column per class"
            )
        if "positives" in columns and class_cols:
            raise SourceError(
                f"{p} line 1: columns {class_cols} are neither reserved ({', '.join(RESERVED)}) "
                "nor allowed beside 'positives' (use lists or class columns, not both)"
            )
        if "positives" not in columns and not class_cols:
            raise SourceError(f"{p} line 1: no label columns ('positives' or one column per class)")
        at = {h: k for k, h in enumerate(header)}
        records = []
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise SourceError(
                    f"{p} line {line}: expected {len(header)} columns, got {len(row)}"
                )
            get = {h: row[at[h]].strip() for h in columns}
            rec = _record(get, line, p, template)
            if "positives" in columns:
                rec.positives = _split(get["positives"])
                rec.negatives = _split(get.get("negatives", ""))
            else:
                rec.dense = [_dense_value(row[at[h]], h, line, p) for h in class_cols]
            records.append(rec)
    return records, columns, (class_cols if "positives" not in columns else None)


def _split(cell: str) -> list[str]:
    return [n.strip() for n in cell.split(SEPARATOR) if n.strip()] if cell else []


def _dense_value(cell: str, column: str, line: int, p: Path) -> int:
    value = _DENSE_VALUES.get(cell.strip())
    if value is None:
        raise SourceError(
            f"{p} line {line}, column {column!r}: value {cell!r}; expected 1, 0 or -1"
        )
    return value


# ---------------------------------------------------------------------- JSONL
def _read_jsonl(p: Path, template: str) -> tuple[list[_Record], set[str]]:
    records: list[_Record] = []
    keys: set[str] | None = None
    for line, obj in _json_lines(p):
        if not isinstance(obj, dict):
            raise SourceError(f"{p} line {line}: expected a JSON object")
        extra = set(obj) - set(RESERVED)
        if extra:
            raise SourceError(
                f"{p} line {line}: unknown keys {sorted(extra)}; allowed {list(RESERVED)}"
            )
        if keys is None:
            keys = set(obj)
            _check_columns(keys, p, f"line {line}")
            if not keys & {"positives", "labels"} or {"positives", "labels"} <= keys:
                raise SourceError(
                    f"{p} line {line}: give either 'positives' (lists) or 'labels' (dense)"
                )
        elif set(obj) != keys:
            raise SourceError(
                f"{p} line {line}: keys {sorted(obj)} differ from the first record's {sorted(keys)}"
            )
        for key in ("id", "path", "text"):
            if key in obj and not isinstance(obj[key], str):
                raise SourceError(f"{p} line {line}: {key!r} must be a string")
        rec = _record(
            {k: obj[k].strip() for k in ("id", "path", "text") if k in obj}, line, p, template
        )
        if "positives" in obj:
            rec.positives = _name_list(obj["positives"], "positives", line, p)
            rec.negatives = _name_list(obj.get("negatives", []), "negatives", line, p)
        else:
            values = obj["labels"]
            if not isinstance(values, list) or any(
                v not in (1, 0, -1) or isinstance(v, bool) for v in values
            ):
                raise SourceError(f"{p} line {line}: 'labels' must be a list of 1, 0 and -1")
            rec.dense = values
        records.append(rec)
    return records, keys or set()


def _json_lines(p: Path) -> Iterator[tuple[int, Any]]:
    with open(p, encoding="utf-8-sig") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                yield line, json.loads(text)
            except json.JSONDecodeError as err:
                raise SourceError(
                    f"{p} line {line}: invalid JSON at column {err.colno}: {err.msg}"
                ) from None


def _name_list(value: Any, key: str, line: int, p: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SourceError(f"{p} line {line}: {key!r} must be a list of class names")
    return [v.strip() for v in value]


# ---------------------------------------------------------------------- shared
def _check_columns(columns: set[str], p: Path, where: str) -> None:
    if {"path", "text"} <= columns:
        raise SourceError(f"{p} {where}: give 'path' or 'text', not both")
    if "negatives" in columns and "positives" not in columns:
        raise SourceError(f"{p} {where}: 'negatives' needs a 'positives' column")
    if "id" not in columns and "path" not in columns:
        raise SourceError(
            f"{p} {where}: need an 'id' column (or a 'path' column that serves as id)"
        )


def _record(get: dict[str, str], line: int, p: Path, template: str) -> _Record:
    where = f"{p} line {line}"
    sample_id = get.get("id", get.get("path", ""))
    if not sample_id:
        raise SourceError(f"{where}: empty id")
    if "text" in get:
        return _Record(line, sample_id, "text", get["text"])
    if "path" in get:
        return _Record(line, sample_id, "path", check_relative_path(get["path"], where))
    return _Record(line, sample_id, "path", format_path(template, where, id=sample_id))


def _check_unique_ids(records: list[_Record], p: Path) -> None:
    first: dict[str, int] = {}
    for r in records:
        if r.id in first:
            raise SourceError(
                f"{p} line {r.line}: duplicated id {r.id!r} (first on line {first[r.id]})"
            )
        first[r.id] = r.line


def _list_indices(
    records: list[_Record], names: list[str], p: Path
) -> tuple[list[list[int]], list[list[int]]]:
    index = {n: k for k, n in enumerate(names)}
    if len(index) != len(names):
        raise SourceError("class list: a class name appears twice")
    pos, neg = [], []
    for r in records:
        row_pos, row_neg = [], []
        for names_, out in ((r.positives, row_pos), (r.negatives, row_neg)):
            for name in names_:
                if name not in index:
                    raise SourceError(f"{p} line {r.line}: unknown class name {name!r}")
                out.append(index[name])
        both = set(row_pos) & set(row_neg)
        if both:
            raise SourceError(
                f"{p} line {r.line}: class {names[min(both)]!r} is positive and negative"
            )
        if len(set(row_pos)) != len(row_pos) or len(set(row_neg)) != len(row_neg):
            raise SourceError(f"{p} line {r.line}: a class name is listed twice")
        pos.append(row_pos)
        neg.append(row_neg)
    return pos, neg
