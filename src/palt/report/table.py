"""The terminal table: per method, mean ± std over seeds in percent, the best mean per column
marked with ``*``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from palt.report.aggregate import COLUMNS, best_methods


def cell(mean: float | None, std: float | None) -> str:
    """``45.12 ± 0.31`` (percent); ``–`` for an undefined value, no ± with a single seed."""
    if mean is None:
        return "–"
    text = f"{100 * mean:.2f}"
    return text if std is None else f"{text} ± {100 * std:.2f}"


def table_rows(aggregates: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Header and one row of strings per method; best cells end with ``*``."""
    best = best_methods(aggregates)
    header = ["method", "seeds", *COLUMNS]
    rows = [header]
    for a in aggregates:
        row = [a["method"], str(a["n_seeds"])]
        for column in COLUMNS:
            text = cell(a[f"{column}_mean"], a[f"{column}_std"])
            row.append(text + (" *" if a["method"] in best[column] else ""))
        rows.append(row)
    return rows


def format_table(aggregates: Sequence[dict[str, Any]], title: str = "") -> str:
    """A plain-text table (method left-aligned, numbers right-aligned)."""
    rows = table_rows(aggregates)
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]

    def line(r: list[str]) -> str:
        parts = [r[0].ljust(widths[0])] + [
            v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True)
        ]
        return "  ".join(parts)

    out = [title] if title else []
    out += [line(rows[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows[1:]]
    out.append("test split, % (mean ± std over seeds); * = best mean in the column")
    return "\n".join(out)


def markdown_table(aggregates: Sequence[dict[str, Any]]) -> str:
    """The same table in Markdown, best cells in bold (for docs/results.md)."""
    rows = table_rows(aggregates)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    for r in rows[1:]:
        cells = [f"**{v[:-2]}**" if v.endswith(" *") else v for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
