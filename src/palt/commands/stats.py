"""``palt stats DIR``: per-group class counts of a benchmark, optionally a bar chart (PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from palt.data.benchmark import Benchmark
from palt.labels import GROUP_NAMES

#: bar colours of the groups in the chart
GROUP_COLOURS = {"head": "#1f77b4", "medium": "#ff7f0e", "tail": "#d62728"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats",
        help="class counts per head/medium/tail group of a benchmark directory",
        description="Per-split sizes, per-group class-count table (observed training positives, "
        "as the groups are defined) and, with --plot, a class-frequency bar chart.",
    )
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--classes", action="store_true", help="also list every class")
    p.add_argument("--plot", metavar="PNG", help="save a bar chart (needs palt[plots])")
    p.set_defaults(func=run)


def group_table(bench: Benchmark) -> list[dict[str, object]]:
    """One row per group: class count and min / median / max / total observed train positives."""
    counts = bench.splits["train"].labels.positive_counts()
    rows = []
    for g, members in bench.groups().items():
        n = counts[members] if members else np.zeros(0, np.int64)
        rows.append(
            {
                "group": g,
                "classes": len(members),
                "min": int(n.min()) if len(n) else 0,
                "median": float(np.median(n)) if len(n) else 0.0,
                "max": int(n.max()) if len(n) else 0,
                "positives": int(n.sum()),
            }
        )
    return rows


def format_report(bench: Benchmark, per_class: bool = False) -> str:
    lines = [f"{bench.name}: {len(bench.classes)} classes; rule {bench.group_rule.describe()}"]
    lines.append(f"{'split':<6} {'samples':>8} {'pos/sample':>10} {'unknown %':>9} {'full':>5}")
    for name, split in bench.splits.items():
        lab = split.labels
        unk = 100 * float(lab.unknown_counts().sum()) / max(lab.n_samples * lab.n_classes, 1)
        full = "yes" if split.full is not None else "-"
        lines.append(
            f"{name:<6} {lab.n_samples:>8} {lab.cardinality():>10.2f} {unk:>9.1f} {full:>5}"
        )
    lines.append("")
    lines.append("observed training positives per class, by group")
    lines.append(f"{'group':<7} {'classes':>7} {'min':>6} {'median':>8} {'max':>6} {'total':>8}")
    for r in group_table(bench):
        lines.append(
            f"{r['group']:<7} {r['classes']:>7} {r['min']:>6} {r['median']:>8.1f} "
            f"{r['max']:>6} {r['positives']:>8}"
        )
    if per_class:
        lines.append("")
        lines += _class_lines(bench)
    return "\n".join(lines)


def _class_lines(bench: Benchmark) -> list[str]:
    group_of = {c: g for g, members in bench.groups().items() for c in members}
    cols = list(bench.splits)
    counts = {s: bench.splits[s].labels.positive_counts() for s in cols}
    width = max(len(c) for c in bench.classes)
    out = [f"{'class':<{width}} {'group':<7} " + " ".join(f"{s:>7}" for s in cols)]
    order = np.argsort(-counts["train"], kind="stable")
    for c in order:
        row = " ".join(f"{int(counts[s][c]):>7}" for s in cols)
        out.append(f"{bench.classes[c]:<{width}} {group_of.get(int(c), '?'):<7} {row}")
    return out


def plot_class_frequency(bench: Benchmark, path: str | Path) -> Path:
    """Bar chart of observed training positives per class (descending), coloured by group."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'palt[plots]'") from None
    from palt._io import atomic_path

    counts = bench.splits["train"].labels.positive_counts()
    group_of = {c: g for g, members in bench.groups().items() for c in members}
    order = np.argsort(-counts, kind="stable")
    colours = [GROUP_COLOURS[group_of[int(c)]] for c in order]
    fig, ax = plt.subplots(figsize=(max(6.0, min(0.12 * len(order), 24.0)), 4.0))
    ax.bar(np.arange(len(order)), counts[order], color=colours, width=0.9)
    ax.set_yscale("log" if counts.max() > 50 * max(counts.min(), 1) else "linear")
    ax.set_xlabel("class (sorted by observed training positives)")
    ax.set_ylabel("observed training positives")
    ax.set_title(f"{bench.name}: {bench.group_rule.describe()}")
    if len(order) <= 40:
        ax.set_xticks(np.arange(len(order)))
        ax.set_xticklabels([bench.classes[c] for c in order], rotation=90, fontsize=7)
    ax.legend(handles=[Patch(color=GROUP_COLOURS[g], label=g) for g in GROUP_NAMES])
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return out


def run(args: argparse.Namespace) -> int:
    bench = Benchmark.load(args.directory)
    print(format_report(bench, args.classes))
    if args.plot:
        print(f"chart: {plot_class_frequency(bench, args.plot)}")
    return 0
