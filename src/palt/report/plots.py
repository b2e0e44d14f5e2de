"""Report figures as base64 PNG strings (matplotlib, the ``[plots]`` extra, Agg backend).

Every function takes plain arrays / dicts and returns the PNG bytes base64-encoded, ready for an
``<img src="data:image/png;base64,...">``. :func:`available` says whether matplotlib imports.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: bar colours of the groups (the same as ``palt stats --plot``)
from palt.commands.stats import GROUP_COLOURS


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _encode(fig: Any) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _colour(group: str) -> str:
    return GROUP_COLOURS.get(group, "#7f7f7f")


def class_frequency(counts: np.ndarray, groups: Sequence[str]) -> str:
    """Observed training positives per class, sorted descending, bars coloured by group."""
    plt = _pyplot()
    order = np.argsort(-np.asarray(counts), kind="stable")
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(
        np.arange(len(order)),
        np.maximum(np.asarray(counts)[order], 0.8),
        width=1.0,
        color=[_colour(groups[i]) for i in order],
    )
    ax.set_yscale("log")
    ax.set_xlabel("class (sorted by training frequency)")
    ax.set_ylabel("observed training positives")
    present = set(groups)
    for g in [*(g for g in GROUP_COLOURS if g in present), *sorted(present - set(GROUP_COLOURS))]:
        ax.bar([0], [0], color=_colour(g), label=f"{g} ({sum(x == g for x in groups)})")
    ax.legend(frameon=False)
    ax.set_xlim(-0.5, len(order) - 0.5)
    return _encode(fig)


def ap_vs_frequency(
    per_method: dict[str, np.ndarray], counts: np.ndarray, groups: Sequence[str]
) -> str:
    """One panel per method: per-class test AP (mean over seeds) against training frequency."""
    plt = _pyplot()
    n = len(per_method)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 2.6 * rows), sharex=True, sharey=True, squeeze=False
    )
    x = np.maximum(np.asarray(counts, dtype=float), 0.8)
    colours = [_colour(g) for g in groups]
    for ax, (method, ap) in zip(axes.flat, per_method.items(), strict=False):
        ok = np.isfinite(ap)
        ax.scatter(x[ok], ap[ok], s=6, c=[colours[i] for i in np.flatnonzero(ok)], alpha=0.7)
        ax.set_xscale("log")
        ax.set_title(method, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("train positives")
    for ax in axes[:, 0]:
        ax.set_ylabel("test AP")
    fig.tight_layout()
    return _encode(fig)


def group_bars(aggregates: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Grouped bars: per method, mean mAP of each column with ± std error bars (percent)."""
    plt = _pyplot()
    methods = [a["method"] for a in aggregates]
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(methods) + 2), 3.6))
    palette = {"mAP": "#444444", "head": _colour("head"), "medium": _colour("medium")}
    palette["tail"] = _colour("tail")
    for k, column in enumerate(columns):
        means = [100 * (a[f"{column}_mean"] or 0.0) for a in aggregates]
        errs = [100 * (a[f"{column}_std"] or 0.0) for a in aggregates]
        ax.bar(
            np.arange(len(methods)) + (k - (len(columns) - 1) / 2) * width,
            means,
            width,
            yerr=errs,
            capsize=2,
            label=column,
            color=palette.get(column),
        )
    ax.set_xticks(np.arange(len(methods)))
    ax.set_xticklabels(methods, rotation=35, ha="right")
    ax.set_ylabel("test mAP (%)")
    ax.legend(frameon=False, ncol=len(columns))
    return _encode(fig)


def correction_curves(curves: dict[str, dict[str, list[tuple[int, float]]]]) -> str:
    """Per method, its label-correction diagnostics (precision / recall of recalled or
    pseudo-labelled positives against the full training labels) over epochs."""
    plt = _pyplot()
    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.0), squeeze=False)
    for ax, (method, series) in zip(axes[0], curves.items(), strict=False):
        for name, points in series.items():
            epochs, values = zip(*points, strict=True)
            style = "-" if "precision" in name else "--"
            ax.plot(epochs, values, style, marker="o", ms=3, label=name)
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    return _encode(fig)
