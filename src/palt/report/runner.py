"""Execute the runs of a comparison: cached by config hash, resumable, optionally in parallel.

A run is *finished* when its directory holds ``summary.json`` (the engine writes it last). A
directory with checkpoints but no summary belongs to an interrupted run, which continues from its
last checkpoint (``fit(resume=True)``); a directory with neither is started again. So a killed
``palt compare`` resumes where it stopped, and a second one skips every finished run.

With ``jobs > 1`` runs go to that many worker processes (spawned, one torch thread each).
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from palt._io import read_json
from palt.data.benchmark import Benchmark
from palt.engine.run_dir import RunDir
from palt.report.plan import RunPlan


@dataclass
class RunOutcome:
    plan: RunPlan
    summary: dict[str, Any]
    cached: bool
    seconds: float | None  # None: reused from an earlier compare


def is_finished(plan: RunPlan) -> bool:
    return (plan.run_dir / "summary.json").is_file()


def prepare_inputs(benchmark: Benchmark, plans: list[RunPlan]) -> None:
    """Fill the feature cache once (TF-IDF of text benchmarks) before workers start, so that
    parallel runs read it instead of fitting it each."""
    seen = set()
    for plan in plans:
        data = plan.config.data
        if data.input != "text" or not data.text.get("cache_dir") or is_finished(plan):
            continue
        key = repr(sorted(data.text.items()))
        if key in seen:
            continue
        seen.add(key)
        from palt.data.datasets import build_datasets

        splits = [s for s in ("train", "val", "test") if s in benchmark.splits]
        build_datasets(benchmark, "text", splits, {"text": data.text}, plan.seed)


def execute(
    plans: list[RunPlan],
    *,
    force: bool = False,
    jobs: int = 1,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> list[RunOutcome]:
    """Run every plan not finished yet (all of them with ``force``); outcomes in plan order."""
    show = sys.stderr.isatty() if progress is None else progress
    outcomes: dict[int, RunOutcome] = {}
    todo = []
    for i, plan in enumerate(plans):
        if force and plan.run_dir.exists():
            shutil.rmtree(plan.run_dir)
        if is_finished(plan):
            outcomes[i] = RunOutcome(plan, read_json(plan.run_dir / "summary.json"), True, None)
        else:
            todo.append(i)
    bar = tqdm(total=len(plans), initial=len(outcomes), desc="runs", unit="run", disable=not show)

    def done(i: int, summary: dict[str, Any], seconds: float) -> None:
        outcomes[i] = RunOutcome(plans[i], summary, False, seconds)
        bar.update(1)
        bar.set_postfix_str(f"{plans[i].method} s{plans[i].seed} {seconds:.0f}s")
        if log is not None:
            mAP = summary.get("test", {}).get("mAP")
            shown = f"{mAP:.4f}" if isinstance(mAP, float) else "n/a"
            log(f"{plans[i].method} seed {plans[i].seed}: test mAP {shown} ({seconds:.1f} s)")

    try:
        if jobs <= 1:
            for i in todo:
                summary, seconds = run_one(plans[i].config.to_dict(), resume_mode(plans[i]))
                done(i, summary, seconds)
        elif todo:
            _parallel(plans, todo, jobs, done)
    finally:
        bar.close()
    return [outcomes[i] for i in range(len(plans))]


def resume_mode(plan: RunPlan) -> str:
    """``resume`` (checkpoints exist), ``overwrite`` (an empty start) or ``new``."""
    rd = RunDir(plan.run_dir)
    if rd.checkpoints.latest() is not None and rd.exists():
        return "resume"
    return "overwrite" if plan.run_dir.exists() else "new"


def run_one(config: dict[str, Any], mode: str, threads: int | None = None) -> tuple[dict, float]:
    """Train one run (in this process); its summary and the wall time in seconds."""
    import torch

    from palt.engine import fit, load_config

    if threads is not None:
        torch.set_num_threads(threads)
    cfg = load_config(config)
    if mode == "overwrite":
        cfg.output.overwrite = True
    start = time.perf_counter()
    result = fit(cfg, resume=mode == "resume")
    return result.summary, time.perf_counter() - start


def _parallel(
    plans: list[RunPlan], todo: list[int], jobs: int, done: Callable[[int, dict, float], None]
) -> None:
    """Workers take one run at a time; an exception or interrupt here
    terminates them, and their runs resume from their last checkpoint next time."""
    tasks = [(i, plans[i].config.to_dict(), resume_mode(plans[i])) for i in todo]
    pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(tasks)))
    try:
        for i, summary, seconds in pool.imap_unordered(_worker, tasks, chunksize=1):
            done(i, summary, seconds)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _worker(task: tuple[int, dict[str, Any], str]) -> tuple[int, dict[str, Any], float]:
    i, config, mode = task
    summary, seconds = run_one(config, mode, threads=1)
    return i, summary, seconds
