"""``palt evaluate RUN_DIR [--split test]``: score a run's best checkpoint on a split."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate the best checkpoint of a run on a split",
        description=(
            "Load RUN_DIR's config and best checkpoint, predict the split, write "
            "predictions/<split>.*.npy, eval-<split>.json and eval-<split>_per_class.csv."
        ),
    )
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from palt.engine.inference import evaluate_run

    summary = evaluate_run(args.run_dir, args.split)
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
