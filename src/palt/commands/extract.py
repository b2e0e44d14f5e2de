"""``palt extract BENCHMARK --backbone NAME --weights FILE --out DIR``: cache frozen features.

Runs a timm backbone (local weights, classifier removed, eval mode) once over the benchmark's
images with the test transform and writes memory-mapped feature shards (see
:mod:`palt.data.features`). Interrupted? Run the same command again: completed shards are kept.
Train on the result with ``data.features=DIR`` (head only; docs/features.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="cache frozen-backbone features of an image benchmark (resumable shards)",
        description=(
            "Run a frozen timm backbone once over an image-file benchmark and write "
            "memory-mapped feature shards; rerun the same command to resume. "
            "See docs/features.md and docs/backbones.md."
        ),
    )
    p.add_argument("benchmark", help="benchmark directory with input kind 'image'")
    p.add_argument("--backbone", required=True, help="timm model name, e.g. resnet18")
    p.add_argument("--weights", help="local weights file (.safetensors or torch state dict)")
    p.add_argument(
        "--key-map",
        help="'positional', or a JSON file {old_prefix: new_prefix} renaming checkpoint keys",
    )
    p.add_argument("--out", required=True, help="output folder of the feature shards")
    p.add_argument("--splits", nargs="+", help="splits to extract (default: all)")
    p.add_argument("--size", type=int, default=224, help="centre-crop size (default 224)")
    p.add_argument("--resize", type=int, help="shorter side before the crop (default size·256/224)")
    p.add_argument("--mean", type=float, nargs=3, help="normalisation mean (default ImageNet)")
    p.add_argument("--std", type=float, nargs=3, help="normalisation std (default ImageNet)")
    p.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16")
    p.add_argument("--shard-size", type=int, default=4096, help="samples per shard")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--on-error", choices=("skip", "fail"), default="skip",
                   help="an image that cannot be decoded: skip (count, report) or fail")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="delete DIR first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from palt.data.benchmark import Benchmark, sha256_file
    from palt.data.features import extract_features
    from palt.data.images import split_dataset
    from palt.models import create_backbone

    bench = Benchmark.load(args.benchmark)
    if bench.input_kind != "image":
        raise ValueError(f"{bench.root}: input kind is {bench.input_kind!r}; extract needs 'image'")
    splits = args.splits or [s for s in ("train", "val", "test") if s in bench.splits]
    unknown = [s for s in splits if s not in bench.splits]
    if unknown:
        raise ValueError(f"--splits: {unknown} not in {bench.root} (has {sorted(bench.splits)})")
    key_map = args.key_map
    if key_map and key_map != "positional":
        from palt._io import read_json

        key_map = read_json(key_map)
        if not isinstance(key_map, dict) or not all(isinstance(v, str) for v in key_map.values()):
            raise ValueError(f"{args.key_map}: expected a JSON object {{old_prefix: new_prefix}}")
    image = {"size": args.size, "on_error": args.on_error}
    image.update({k: v for k, v in (("resize", args.resize), ("mean", args.mean),
                                    ("std", args.std)) if v is not None})  # fmt: skip
    datasets = {s: split_dataset(bench, s, image, train=False) for s in splits}
    backbone, dim = create_backbone(
        "timm", input_shape=(3, args.size, args.size), model_name=args.backbone,
        weights=args.weights, key_map=key_map,
    )  # fmt: skip
    params = {
        "benchmark": bench.name,
        "benchmark_manifest_sha256": sha256_file(bench.root / "manifest.json"),
        "backbone": args.backbone,
        "weights": Path(args.weights).name if args.weights else None,
        "weights_sha256": sha256_file(args.weights) if args.weights else None,
        "key_map": key_map,
        "image": {k: list(v) if isinstance(v, tuple) else v for k, v in image.items()},
        "dim": dim,
    }
    out = Path(args.out)
    if args.overwrite and out.exists():
        shutil.rmtree(out)
    records = extract_features(
        datasets, backbone, out, params=params, dtype=args.dtype, shard_size=args.shard_size,
        batch_size=args.batch_size, num_workers=args.num_workers,
        describe_skip=lambda s, i: _decode_message(datasets[s].paths[i]),
    )  # fmt: skip
    for split, rec in records.items():
        print(f"{split}: {rec['n_samples']} samples, {rec['dim']}-d, {len(rec['skipped'])} skipped")
        for item in rec["skipped"][:10]:
            print(f"  skipped {item['index']}: {item['error']}", file=sys.stderr)
    print(json.dumps({"features": str(out)}))
    return 0


def _decode_message(path: Path) -> str:
    from palt.data.images import ImageDecodeError, decode_image

    try:
        decode_image(path)
    except ImageDecodeError as err:
        return str(err)
    return f"{path}: skipped"
