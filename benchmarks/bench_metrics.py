"""Benchmark palt.metrics against scikit-learn's per-class loop and torchmetrics.

    python benchmarks/bench_metrics.py                 # all three cases (a few minutes)
    python benchmarks/bench_metrics.py --cases coco    # one case

Cases (synthetic, seeded; logits = N(0, 1) + 2·y):
  coco    40,137 × 80, fully labelled, logits rounded to 2 decimals (ties) — COCO-val size
  partial 100,000 × 1,000, 50 % of the entries unknown
  sparse  200,000 × 5,000, 0.5 % of the entries annotated; labels as a sparse LabelSet and
          scores as SparseScores (only at annotated entries) — torchmetrics cannot take this
          input without a dense 4 GB score matrix, so it is skipped

Wall and CPU time (``time.process_time``: all threads of the process) are both reported: on a
shared machine the CPU time is the steadier comparison. Every (case, method) runs in a fresh
process: the data are built, the peak-RSS counter is reset
(/proc/self/clear_refs), the method runs, and "extra" = peak RSS − RSS before the call. Peers get
their inputs prepared outside the timing (torchmetrics: tensors; scikit-learn on the sparse case:
per-class arrays). AP differences are taken against scikit-learn on the classes it evaluates.
``argsort_floor`` (coco only) times ``np.argsort`` of the contiguous class rows: the cost floor
of any per-class method that sorts with indices.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = ("coco", "partial", "sparse")
METHODS = ("palt", "palt_evaluate", "sklearn", "torchmetrics", "argsort_floor")


# ---------------------------------------------------------------------------- data
def build(case: str):
    """(scores, targets, info) for a case; sparse: (rows, cols, values, LabelSet)."""
    rng = np.random.default_rng(0)
    if case == "coco":
        n, c = 40_137, 80
        rate = 1.0 / np.arange(1, c + 1)
        rate *= 2.9 / rate.sum()  # ≈ 2.9 positives per image, long-tailed
        targets = (rng.random((n, c), dtype=np.float32) < rate).astype(np.int8)
        scores = rng.standard_normal((n, c), dtype=np.float32) + 2 * targets
        return np.round(scores, 2), targets, (n, c)
    if case == "partial":
        n, c = 100_000, 1_000
        rate = 0.2 * np.arange(1, c + 1, dtype=np.float32) ** -0.8
        targets = (rng.random((n, c), dtype=np.float32) < rate).astype(np.int8)
        scores = rng.standard_normal((n, c), dtype=np.float32)
        scores += 2 * targets
        targets[rng.random((n, c), dtype=np.float32) < 0.5] = -1
        return scores, targets, (n, c)
    if case == "sparse":
        from palt.labels import LabelSet

        n, c = 200_000, 5_000
        flat = np.unique(rng.integers(0, n * c, size=n * c // 200))
        rows, cols = flat // c, flat % c
        rate = 0.5 * np.arange(1, c + 1) ** -0.5
        is_pos = rng.random(len(flat)) < rate[cols]
        values = rng.standard_normal(len(flat), dtype=np.float32) + 2 * is_pos
        csr = []
        for sel in (is_pos, ~is_pos):
            ptr = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(rows[sel], minlength=n), out=ptr[1:])
            csr += [ptr, cols[sel]]
        labels = LabelSet.from_csr(*csr, classes=c)
        return (rows, cols, values), labels, (n, c)
    raise ValueError(case)


# ---------------------------------------------------------------------------- one run
def _rss(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def run_child(case: str, method: str, out: Path, repeat: int) -> None:
    if method == "torchmetrics" and case == "sparse":
        json.dump({"skipped": "needs dense N×C preds and targets (4 GB + 1 GB)"}, out.open("w"))
        return
    if method == "argsort_floor" and case != "coco":
        json.dump({"skipped": "reference measured on the coco case only"}, out.open("w"))
        return
    scores, targets, (n, c) = build(case)
    if method.startswith("palt"):
        from palt.metrics import SparseScores, average_precision, evaluate

        fn = average_precision if method == "palt" else evaluate

        def call():
            if case == "sparse":
                s = SparseScores(*scores, shape=(n, c))
                res = fn(s, targets)
            else:
                res = fn(scores, targets)
            return res if method == "palt" else res.ap

    elif method == "sklearn":
        from sklearn.metrics import average_precision_score

        if case == "sparse":  # per-class annotated vectors, prepared outside the timing
            from palt.metrics import SparseScores

            s = SparseScores(*scores, shape=(n, c))
            per_class = []
            for k in range(c):
                pos, neg = targets.column_entries(k)
                rows = np.sort(np.concatenate([pos, neg]))
                per_class.append((np.isin(rows, pos), s.lookup(k, rows, str(k))))
            del s

        def call():
            ap = np.full(c, np.nan)
            for k in range(c):
                if case == "sparse":
                    y, v = per_class[k]
                else:
                    known = targets[:, k] >= 0
                    y, v = targets[known, k], scores[known, k]
                if 0 < y.sum() < len(y):
                    ap[k] = average_precision_score(y, v)
            return ap

    elif method == "argsort_floor":  # the brief's reference: argsort of contiguous class rows
        rows_by_class = np.ascontiguousarray(scores.T)

        def call():
            np.argsort(rows_by_class, axis=1)
            return np.full(c, np.nan)

    else:
        import torch
        from torchmetrics.classification import MultilabelAveragePrecision

        preds, target = torch.from_numpy(scores), torch.from_numpy(targets)

        def call():
            metric = MultilabelAveragePrecision(
                num_labels=c, average=None, ignore_index=-1, validate_args=False
            )
            metric.update(preds, target)
            return metric.compute().numpy().astype(np.float64)

    best, best_cpu, extra = float("inf"), float("inf"), 0
    for _ in range(repeat):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _rss("VmRSS")
        t0, c0 = time.perf_counter(), time.process_time()
        ap = call()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        extra = max(extra, _rss("VmHWM") - before)
    np.save(out.with_suffix(".npy"), np.asarray(ap, np.float64))
    json.dump(
        {"time": best, "cpu": best_cpu, "extra": extra, "dense_bytes": 4 * n * c}, out.open("w")
    )


def default_repeat(case: str, method: str) -> int:
    """Best of several runs where runs are short (a shared machine is noisy). One run on the
    sparse case, so that palt pays for the LabelSet's class-major index (cached afterwards)."""
    if case == "sparse":
        return 1
    if case == "partial":
        return 2 if method.startswith("palt") else 1
    return (
        7
        if method.startswith("palt") or method == "argsort_floor"
        else 3
        if method == "sklearn"
        else 2
    )


# ---------------------------------------------------------------------------- driver
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--child", nargs=3, metavar=("CASE", "METHOD", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument(
        "--repeat", type=int, default=0, help="runs per method (default: see default_repeat)"
    )
    args = ap.parse_args()
    if args.child:
        case, method, out = args.child
        run_child(case, method, Path(out), args.repeat or default_repeat(case, method))
        return
    print(f"# palt.metrics benchmark ({os.cpu_count()} CPUs; time = best of the runs)\n")
    print(
        "| case | method | wall (s) | wall / palt | CPU (s) | CPU / palt | peak extra (MB) "
        "| extra / dense fp32 scores | max abs ΔAP vs sklearn |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            results = {}
            for method in METHODS:
                out = Path(tmp) / f"{case}-{method}.json"
                cmd = [sys.executable, __file__, "--child", case, method, str(out)]
                if args.repeat:
                    cmd += ["--repeat", str(args.repeat)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    results[method] = {
                        "skipped": f"failed: {proc.stderr.strip().splitlines()[-1:]}"
                    }
                    continue
                results[method] = json.loads(out.read_text())
                if "time" in results[method]:
                    results[method]["ap"] = np.load(out.with_suffix(".npy"))
            ref = results.get("sklearn", {}).get("ap")
            base = results["palt"].get("time", float("nan"))
            base_cpu = results["palt"].get("cpu", float("nan"))
            for method in METHODS:
                r = results[method]
                if "time" not in r:
                    print(f"| {case} | {method} | skipped: {r['skipped']} | | | | | | |")
                    continue
                delta = ""
                if ref is not None and method not in ("sklearn", "argsort_floor"):
                    ok = ~np.isnan(ref)
                    delta = f"{np.max(np.abs(r['ap'][ok] - ref[ok])):.1e}"
                print(
                    f"| {case} | {method} | {r['time']:.3f} | {r['time'] / base:.1f}× | "
                    f"{r['cpu']:.3f} | {r['cpu'] / base_cpu:.1f}× | "
                    f"{r['extra'] / 2**20:.0f} | {r['extra'] / r['dense_bytes']:.2f} | {delta} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
