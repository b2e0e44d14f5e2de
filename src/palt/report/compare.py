"""``compare``: methods × seeds on one benchmark → results table, CSV/JSON, ``report.html``.

Output folder::

    OUT/
      benchmark/<name>/   the built-in benchmark, built on first use (a DIR argument is used as is)
      cache/              TF-IDF features, fitted once for every run
      runs/<method>-s<seed>-<hash>/   one engine run directory each (see palt.engine.run_dir)
      results.csv  results.json  report.html
"""

from __future__ import annotations

import csv
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from palt import __version__
from palt._io import write_text
from palt.data.benchmark import Benchmark
from palt.report import html, plots
from palt.report.aggregate import aggregate, run_row, write_results
from palt.report.plan import RunPlan, plan_runs
from palt.report.runner import RunOutcome, execute, prepare_inputs
from palt.report.table import format_table

#: metrics.csv columns of label-correction quality (not counts such as ``diag_recalled_head``)
_CORRECTION = re.compile(r"diag_(.*_)?(precision|recall)(_.*)?$")

#: built-in presets that need no input files, built into ``OUT/benchmark/<name>``
SELF_CONTAINED = ("debtags-plt",)


@dataclass
class CompareResult:
    table: str
    rows: list[dict[str, Any]]
    aggregates: list[dict[str, Any]]
    paths: dict[str, Path]
    outcomes: list[RunOutcome]


def resolve_benchmark(
    name_or_dir: str, out: Path, build_inputs: dict[str, Any] | None = None
) -> Benchmark:
    """A benchmark directory, or a built-in preset name (built once into ``out/benchmark``).

    ``multimnist-lt`` needs ``build_inputs`` (``mnist``, ``fashion``); other presets need user
    data: build them with ``palt build`` and pass the directory.
    """
    path = Path(name_or_dir)
    if (path / "manifest.json").is_file():
        return Benchmark.load(path)
    from palt.data.build import BuildInputs, build_benchmark
    from palt.data.presets import PRESETS, get_preset

    if name_or_dir not in PRESETS:
        raise FileNotFoundError(
            f"--benchmark {name_or_dir!r}: neither a benchmark directory (no manifest.json) nor "
            f"a built-in preset ({', '.join(SELF_CONTAINED)}, multimnist-lt with --mnist)"
        )
    target = out / "benchmark" / name_or_dir
    if (target / "manifest.json").is_file():
        return Benchmark.load(target)
    inputs = dict(build_inputs or {})
    if name_or_dir not in SELF_CONTAINED and not inputs.get("mnist"):
        raise ValueError(
            f"--benchmark {name_or_dir}: this preset needs input files; build it with "
            f"`palt build {name_or_dir} ... --out DIR` and pass --benchmark DIR"
        )
    build_benchmark(get_preset(name_or_dir), target, BuildInputs(**inputs))
    return Benchmark.load(target)


def compare(
    benchmark: Benchmark,
    methods: list[str],
    seeds: list[int],
    out: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    force: bool = False,
    jobs: int = 1,
    progress: bool | None = None,
    command: str = "",
    log: Callable[[str], None] | None = None,
) -> CompareResult:
    """Run (or reuse) every (method, seed), aggregate, write results and the report."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    plans = plan_runs(benchmark, methods, seeds, folder, epochs=epochs, overrides=overrides)
    start = time.perf_counter()
    prepare_inputs(benchmark, plans)
    outcomes = execute(plans, force=force, jobs=jobs, progress=progress, log=log)
    wall = time.perf_counter() - start
    rows = [
        run_row(o.plan.method, o.plan.seed, o.summary, seconds=o.seconds, cached=o.cached)
        for o in outcomes
    ]
    aggs = aggregate(rows)
    meta = {
        "benchmark": benchmark.name,
        "benchmark_dir": str(benchmark.root),
        "command": command,
        "methods": methods,
        "seeds": seeds,
        "epochs": plans[0].config.trainer.epochs if plans else None,
        "palt_version": __version__,
        "machine": machine(),
        "wall_seconds": round(wall, 1),
        "runs_trained": sum(not o.cached for o in outcomes),
        "runs_cached": sum(o.cached for o in outcomes),
    }
    csv_path, json_path = write_results(folder, rows, meta)
    table = format_table(
        aggs, title=f"{benchmark.name}: {len(methods)} methods × {len(seeds)} seeds"
    )
    report = folder / "report.html"
    write_text(report, render_report(benchmark, plans, meta, aggs, rows))
    paths = {"results.csv": csv_path, "results.json": json_path, "report.html": report}
    return CompareResult(table, rows, aggs, paths, outcomes)


def machine() -> dict[str, Any]:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def render_report(
    benchmark: Benchmark,
    plans: list[RunPlan],
    meta: dict[str, Any],
    aggs: list[dict[str, Any]],
    rows: list[dict[str, Any]],
) -> str:
    configs: dict[str, str] = {}
    for plan in plans:
        if plan.method not in configs:
            text = (plan.run_dir / "config.yaml").read_text(encoding="utf-8")
            seeds = [p.seed for p in plans if p.method == plan.method]
            configs[plan.method] = f"# seeds {seeds}; shown: seed {plan.seed}\n{text}"
    notes = []
    if any(p.config.trainer.select_on != "val" for p in plans):
        notes.append("Some runs did not select their checkpoint on the validation split.")
    figures = build_figures(benchmark, plans, aggs) if plots.available() else None
    return html.render(meta, aggs, rows, figures, configs, notes)


def build_figures(
    benchmark: Benchmark, plans: list[RunPlan], aggs: list[dict[str, Any]]
) -> dict[str, str]:
    counts = benchmark.splits["train"].labels.positive_counts()
    group_of = ["other"] * len(counts)
    for g, members in benchmark.groups().items():
        for c in members:
            group_of[c] = g
    per_method: dict[str, list[np.ndarray]] = {}
    curves: dict[str, dict[str, dict[int, list[float]]]] = {}
    for plan in plans:
        per_method.setdefault(plan.method, []).append(per_class_ap(plan.run_dir, benchmark))
        for name, points in correction_diagnostics(plan.run_dir).items():
            series = curves.setdefault(plan.method, {}).setdefault(name, {})
            for epoch, value in points:
                series.setdefault(epoch, []).append(value)
    figures = {
        "class_frequency": plots.class_frequency(counts, group_of),
        "group_bars": plots.group_bars(aggs, ["mAP", "head", "medium", "tail"]),
        "ap_vs_frequency": plots.ap_vs_frequency(
            {m: np.nanmean(np.stack(v), axis=0) for m, v in per_method.items()}, counts, group_of
        ),
    }
    if curves:
        mean_curves = {
            m: {n: sorted((e, float(np.mean(v))) for e, v in s.items()) for n, s in by.items()}
            for m, by in curves.items()
        }
        figures["correction"] = plots.correction_curves(mean_curves)
    return figures


def per_class_ap(run_dir: Path, benchmark: Benchmark) -> np.ndarray:
    """Test AP per class (benchmark class order) from a run's ``per_class.csv``; NaN where the
    class was not evaluated."""
    index = {c: k for k, c in enumerate(benchmark.classes)}
    ap = np.full(len(index), np.nan)
    with open(run_dir / "per_class.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("AP"):
                ap[index[row["class"]]] = float(row["AP"])
    return ap


def correction_diagnostics(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``diag_*precision*`` / ``diag_*recall*`` columns of ``metrics.csv`` (label-correction
    quality against the full training labels), as (epoch, value) lists; empty cells skipped."""
    path = run_dir / "metrics.csv"
    out: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if not value or not _CORRECTION.match(key):
                    continue
                v = float(value)
                if np.isfinite(v):
                    out.setdefault(key.removeprefix("diag_"), []).append((int(row["epoch"]), v))
    return out
