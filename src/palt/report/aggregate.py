"""Results of a comparison: one row per (method, seed) from each run's ``summary.json``, and
per-method aggregates (mean and sample standard deviation over seeds).

Columns (fractions in [0, 1], test split, checkpoint selected on validation):

* ``mAP``, ``mAP_head``, ``mAP_medium``, ``mAP_tail`` — macro AP over the evaluated classes of
  the benchmark's head / medium / tail groups;
* ``CF1`` — ``CF1_of_means`` = 2·CP·CR/(CP+CR) (the ML-GCN / DB / COMIC tables);
* ``OF1`` — F1 pooled over every annotated entry.

std uses ``ddof=1`` (seeds are a sample); with one seed it is undefined (``None``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from palt._io import write_json, write_text
from palt.engine.run_dir import to_csv

#: table column → key in ``summary["test"]``
COLUMNS: dict[str, str] = {
    "mAP": "mAP",
    "head": "mAP_head",
    "medium": "mAP_medium",
    "tail": "mAP_tail",
    "CF1": "CF1_of_means",
    "OF1": "OF1",
}


def run_row(method: str, seed: int, summary: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One (method, seed) row: the table columns plus selection info."""
    test = summary.get("test", {})
    row: dict[str, Any] = {"method": method, "seed": seed}
    for column, key in COLUMNS.items():
        row[column] = _number(test.get(key))
    selection = summary.get("selection", {})
    row["selected_epoch"] = selection.get("epoch")
    row["val_mAP"] = _number(selection.get("score"))
    row.update(extra)
    return row


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method (first-seen order): ``n_seeds`` and ``<column>_mean`` / ``<column>_std``."""
    methods: list[str] = []
    for row in rows:
        if row["method"] not in methods:
            methods.append(row["method"])
    out = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        agg: dict[str, Any] = {"method": method, "n_seeds": len(mine)}
        for column in COLUMNS:
            values = np.array([r[column] for r in mine if r[column] is not None], dtype=float)
            agg[f"{column}_mean"] = float(values.mean()) if len(values) else None
            agg[f"{column}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
        out.append(agg)
    return out


def best_methods(aggregates: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """Per column, the method(s) with the highest mean (ties all marked)."""
    best: dict[str, set[str]] = {}
    for column in COLUMNS:
        means = [(a["method"], a[f"{column}_mean"]) for a in aggregates]
        valid = [m for _, m in means if m is not None]
        if not valid:
            best[column] = set()
            continue
        top = max(valid)
        best[column] = {name for name, m in means if m is not None and m == top}
    return best


def write_results(
    directory: str | Path, rows: Sequence[dict[str, Any]], meta: dict[str, Any]
) -> tuple[Path, Path]:
    """``results.csv`` (run rows, then one ``mean`` and one ``std`` row per method) and
    ``results.json`` (``meta``, ``runs``, ``aggregates``, ``best``) in ``directory``."""
    folder = Path(directory)
    aggs = aggregate(rows)
    csv_rows: list[dict[str, Any]] = [dict(r) for r in rows]
    for a in aggs:
        for stat in ("mean", "std"):
            line: dict[str, Any] = {"method": a["method"], "seed": stat}
            line.update({c: a[f"{c}_{stat}"] for c in COLUMNS})
            csv_rows.append(line)
    csv_path, json_path = folder / "results.csv", folder / "results.json"
    write_text(csv_path, to_csv([{k: _blank(v) for k, v in r.items()} for r in csv_rows]))
    best = {c: sorted(v) for c, v in best_methods(aggs).items()}
    write_json(json_path, {**meta, "runs": list(rows), "aggregates": aggs, "best": best})
    return csv_path, json_path


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _blank(value: Any) -> Any:
    return "" if value is None else value
