"""``palt predict RUN_DIR INPUTS [--out FILE]``: logits of new inputs with a run's best model."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict new inputs with the best checkpoint of a run",
        description=(
            "INPUTS: a .npy array (N×D features, or N×H×W[×C] uint8 images for array "
            "benchmarks) or, for text benchmarks, a UTF-8 file with one text per line. "
            "Writes fp32 logits (.npy) and, beside it, a .jsonl with the predicted class names "
            "(logit > trainer.threshold) per input."
        ),
    )
    p.add_argument("run_dir")
    p.add_argument("inputs")
    p.add_argument(
        "--out", default=None, help="output .npy (default RUN_DIR/predictions/predict.logits.npy)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from palt.engine.inference import predict_inputs

    out = predict_inputs(args.run_dir, args.inputs, args.out)
    print(f"wrote {out} and {out.with_suffix('.jsonl')}")
    return 0
