"""``palt train CONFIG [key=value ...] [--resume]``: train, select on validation, test."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a method on a benchmark (YAML config + dotted overrides)",
        description=(
            "Train, keep the best checkpoint by validation mAP, evaluate it on the test split "
            "and write the run directory. Multi-process: set trainer.devices/num_nodes (and "
            "trainer.strategy=ddp) or launch with torchrun; see docs/distributed.md."
        ),
    )
    p.add_argument("config", help="YAML config file (e.g. src/palt/configs/debtags-bce.yaml)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="e.g. optim.lr=0.01 method.params.gamma_neg=3",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run from its last checkpoint"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from palt.engine import fit, load_config

    config = load_config(args.config, args.overrides)
    result = fit(config, resume=args.resume)
    if result.summary and _is_rank_zero():
        test = result.summary.get("test", {})
        shown = {k: v for k, v in test.items() if k.startswith("mAP") or k in ("CF1_mean", "OF1")}
        print(f"run directory: {result.run_dir}")
        print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


def _is_rank_zero() -> bool:
    import os

    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0"
