"""``report.html``: one self-contained page (inline CSS, figures as base64 PNG, no scripts, no
external ``src``) that a browser opens from disk."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from palt.report.aggregate import COLUMNS
from palt.report.table import table_rows

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:72em;
padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.8em 0}th,td{padding:.25em .7em;border-bottom:1px solid #ddd}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.best{font-weight:bold;background:#eef6ee}
img{max-width:100%;display:block;margin:.5em 0}pre{background:#f6f6f6;padding:.6em;overflow:auto;
font-size:.85em}.note{background:#fff7e0;padding:.6em;border-left:4px solid #e0b000}
figcaption{color:#555;font-size:.9em}
"""

#: figure key → (section title, caption)
FIGURES: dict[str, tuple[str, str]] = {
    "class_frequency": (
        "Class-frequency distribution",
        "Observed training positives per class (log scale), coloured by group "
        "(head / medium / tail, by the benchmark's group rule).",
    ),
    "group_bars": (
        "mAP by group",
        "Test mAP in total and per group, mean over seeds; error bars: ± one standard deviation.",
    ),
    "ap_vs_frequency": (
        "Per-class AP against training frequency",
        "Each point is one class: its test AP (mean over seeds) against its observed training "
        "positives; colour = group.",
    ),
    "correction": (
        "Label correction over epochs",
        "Methods that recall or pseudo-label training entries: precision (share of recalled "
        "positives that are true positives in the full training labels) and recall (share of "
        "the hidden positives recalled), per epoch, mean over seeds.",
    ),
}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def results_table(aggregates: Sequence[dict[str, Any]]) -> str:
    rows = table_rows(aggregates)
    head = "".join(f"<th>{esc(h)}</th>" for h in rows[0])
    body = []
    for r in rows[1:]:
        cells = [f"<td>{esc(r[0])}</td>", f'<td class="num">{esc(r[1])}</td>']
        for v in r[2:]:
            best = v.endswith(" *")
            text = v[:-2] if best else v
            cls = "num best" if best else "num"
            cells.append(f'<td class="{cls}">{esc(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def runs_table(rows: Sequence[dict[str, Any]]) -> str:
    keys = ["method", "seed", *COLUMNS, "selected_epoch", "val_mAP", "seconds"]
    head = "".join(f"<th>{esc(k)}</th>" for k in keys)
    body = []
    for r in rows:
        cells = []
        for k in keys:
            v = r.get(k)
            if isinstance(v, float):
                v = f"{v:.1f}" if k == "seconds" else f"{100 * v:.2f}"
            cells.append(f"<td>{esc('–' if v is None else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render(
    meta: dict[str, Any],
    aggregates: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    figures: dict[str, str] | None,
    configs: dict[str, str],
    notes: Sequence[str] = (),
) -> str:
    """The page. ``figures`` maps :data:`FIGURES` keys to base64 PNG (``None``: matplotlib is
    missing, and the page says so); ``configs`` maps each method to its resolved YAML."""
    title = f"palt compare — {meta.get('benchmark', '')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Command: <code>{esc(meta['command'])}</code></p>" if meta.get("command") else "",
        "<h2>Results</h2>",
        "<p>Test split, checkpoint selected on the validation split; percent, mean ± standard "
        "deviation over seeds; bold = best mean in the column. CF1 = 2·CP·CR/(CP+CR), "
        "OF1 pooled over every annotated entry.</p>",
        results_table(aggregates),
    ]
    parts += [f'<p class="note">{esc(n)}</p>' for n in notes]
    if figures is None:
        parts.append(
            '<p class="note">Plots need the plots extra: <code>pip install "palt[plots]"</code> '
            "(matplotlib). The tables below are complete without it.</p>"
        )
    else:
        for key, (section, caption) in FIGURES.items():
            if key not in figures:
                continue
            parts.append(f"<h2>{esc(section)}</h2><figure>")
            parts.append(f'<img alt="{esc(section)}" src="data:image/png;base64,{figures[key]}">')
            parts.append(f"<figcaption>{esc(caption)}</figcaption></figure>")
    parts += ["<h2>Every run</h2>", runs_table(rows), "<h2>Set-up</h2>", _meta_table(meta)]
    parts.append("<h2>Exact configs</h2>")
    for method, text in configs.items():
        parts.append(f"<details><summary>{esc(method)}</summary><pre>{esc(text)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _meta_table(meta: dict[str, Any]) -> str:
    shown = {k: v for k, v in meta.items() if k != "command"}
    rows = []
    for k, v in shown.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}: {b}" for a, b in v.items())
        elif isinstance(v, list | tuple):
            v = ", ".join(map(str, v))
        rows.append(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>")
    return f"<table>{''.join(rows)}</table>"
