"""Benchmark directory: round trip, byte-identical rewrites, atomic failure, clear errors."""

import json

import numpy as np
import pytest

from palt.data.benchmark import Benchmark, BenchmarkError, SplitData, write_benchmark
from palt.labels import LabelSet


def _split(n, offset=0, full=True):
    rng = np.random.default_rng(offset)
    dense = rng.choice([1, 0, -1], size=(n, 4)).astype(np.int8)
    ids = [f"s{offset + i}" for i in range(n)]
    labels = LabelSet.from_dense(dense, ["a", "b", "c", "d"], ids)
    full_labels = LabelSet.from_dense(np.abs(dense), ["a", "b", "c", "d"], ids) if full else None
    return SplitData(labels, full_labels, [{"id": i, "text": f"text {i}"} for i in ids])


def _write(path, **kw):
    splits = {"train": _split(30), "val": _split(5, 100), "test": _split(8, 200, full=False)}
    return write_benchmark(
        path, splits, name="toy", input_kind="text", params={"p": 1}, seed=0, **kw
    )


def test_round_trip_and_byte_identical(tmp_path):
    _write(tmp_path / "a")
    _write(tmp_path / "b")
    for f in sorted((tmp_path / "a").rglob("*")):
        if f.is_file():
            assert (
                f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()
            ), f
    bench = Benchmark.load(tmp_path / "a")
    assert bench.classes == ("a", "b", "c", "d")
    assert bench.splits["test"].full is None
    assert bench.splits["train"].labels == _split(30).labels
    counts = _split(30).labels.positive_counts()
    groups = bench.groups()
    assert sorted(sum(groups.values(), [])) == [0, 1, 2, 3]
    assert all(counts[c] < 20 for c in groups["tail"])


def test_failed_write_keeps_previous_output(tmp_path):
    _write(tmp_path / "a")
    before = (tmp_path / "a" / "manifest.json").read_bytes()
    with pytest.raises(BenchmarkError, match="needs images"):
        write_benchmark(
            tmp_path / "a", {"train": _split(3)}, name="x", input_kind="array", params={}, seed=0
        )
    assert (tmp_path / "a" / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_load_errors_name_the_file(tmp_path):
    _write(tmp_path / "a")
    (tmp_path / "a" / "val" / "labels.json").unlink()
    with pytest.raises(BenchmarkError, match=r"val/labels.json: file not found"):
        Benchmark.load(tmp_path / "a")
    _write(tmp_path / "b")
    with open(tmp_path / "b" / "train" / "inputs.jsonl", "a") as f:
        f.write("{broken\n")
    with pytest.raises(BenchmarkError, match=r"inputs.jsonl line 31: invalid JSON"):
        Benchmark.load(tmp_path / "b")


def test_image_paths_stay_inside_root(tmp_path):
    labels = LabelSet.from_dense(np.ones((2, 1), np.int8), ["x"], ["i0", "i1"])
    inputs = [{"id": "i0", "path": "ok.jpg"}, {"id": "i1", "path": "../../etc/passwd"}]
    write_benchmark(
        tmp_path / "b",
        {"train": SplitData(labels, None, inputs)},
        name="img",
        input_kind="image",
        params={},
        seed=None,
        input_root="images",
    )
    bench = Benchmark.load(tmp_path / "b")
    assert bench.image_path("train", 0) == (tmp_path / "b" / "images" / "ok.jpg").resolve()
    with pytest.raises(BenchmarkError, match="line 2: path '../../etc/passwd' escapes"):
        bench.image_path("train", 1)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["input"] == {"kind": "image", "root": "images"}
