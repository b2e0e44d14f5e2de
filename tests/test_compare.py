"""palt compare end to end at tiny scale: table, results.csv/json, self-contained report, cache."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from palt.cli import main
from palt.data.benchmark import Benchmark, SplitData, write_benchmark
from palt.labels import GroupRule, LabelSet
from palt.report import compare, plots
from palt.report.aggregate import aggregate, best_methods
from palt.report.table import cell, format_table

CLASSES = ["alpha", "beta", "gamma", "delta", "eps"]
#: positive rates → head / medium / tail under GroupRule(head_min=25, tail_max=8)
RATES = [0.6, 0.4, 0.2, 0.1, 0.05]


def text_benchmark(root: Path, sizes=(80, 30, 40), seed=0) -> Path:
    """Documents that contain the word ``w<c>`` (plus noise words) when class c is present;
    training labels: positives half observed, everything else unknown."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in zip(("train", "val", "test"), sizes, strict=True):
        full = (rng.random((n, len(CLASSES))) < RATES).astype(np.int8)
        texts = []
        for i in range(n):
            words = [f"w{c}" for c in np.flatnonzero(full[i])]
            words += [f"noise{k}" for k in rng.integers(0, 6, size=3)]
            texts.append(" ".join(words))
        observed = full.copy()
        if name == "train":
            observed[full == 0] = -1
            observed[(full == 1) & (rng.random(full.shape) < 0.3)] = -1
        ids = [f"{name}{i}" for i in range(n)]
        splits[name] = SplitData(
            LabelSet.from_dense(observed, CLASSES, ids),
            LabelSet.from_dense(full, CLASSES, ids),
            [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)],
        )
    return write_benchmark(
        root / "bench",
        splits,
        name="toy-text",
        input_kind="text",
        params={},
        seed=seed,
        group_rule=GroupRule(head_min=25, tail_max=8),
    )


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """One tiny compare: 2 methods × 2 seeds × 1 epoch, in 2 worker processes."""
    root = tmp_path_factory.mktemp("compare")
    bench = text_benchmark(root)
    out = root / "out"
    code = main(
        [
            "compare",
            "--benchmark",
            str(bench),
            "--methods",
            "bce,asl",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--jobs",
            "2",
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "data.batch_size=16",
        ]
    )
    assert code == 0
    return bench, out


def test_results_files(done):
    bench, out = done
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    runs = [r for r in rows if r["seed"] not in ("mean", "std")]
    assert sorted((r["method"], r["seed"]) for r in runs) == [
        ("asl", "0"),
        ("asl", "1"),
        ("bce", "0"),
        ("bce", "1"),
    ]
    assert sum(r["seed"] == "mean" for r in rows) == 2
    data = json.loads((out / "results.json").read_text())
    assert len(data["runs"]) == 4 and {a["method"] for a in data["aggregates"]} == {"bce", "asl"}
    # every number agrees with the run's own summary.json, and the mean/std with numpy
    run_dirs = sorted((out / "runs").iterdir())
    assert len(run_dirs) == 4
    by_run = {(r["method"], r["seed"]): r for r in data["runs"]}
    for d in run_dirs:
        summary = json.loads((d / "summary.json").read_text())
        row = by_run[(summary["method"], summary["seed"])]
        assert row["mAP"] == pytest.approx(summary["test"]["mAP"])
        assert row["tail"] == pytest.approx(summary["test"]["mAP_tail"])
        assert row["CF1"] == pytest.approx(summary["test"]["CF1_of_means"])
        assert summary["selection"]["on"] == "val"
    for agg in data["aggregates"]:
        values = [r["mAP"] for r in data["runs"] if r["method"] == agg["method"]]
        assert agg["mAP_mean"] == pytest.approx(sum(values) / 2)
        assert agg["mAP_std"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)


def test_report_is_self_contained(done):
    _, out = done
    page = (out / "report.html").read_text()
    assert "<table" in page and "bce" in page and "asl" in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in page and "href=" not in page
    if plots.available():
        assert len(sources) >= 3
    assert "seeds [0, 1]" in page  # the exact configs are in the page


def test_second_run_is_cached(done, capsys):
    bench, out = done
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}
    result = compare(Benchmark.load(bench), ["bce", "asl"], [0, 1], out, epochs=1,
                     overrides=["data.batch_size=16"], progress=False)  # fmt: skip
    assert all(o.cached for o in result.outcomes)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # a different config is a different run
    other = compare(Benchmark.load(bench), ["bce"], [0], out, epochs=2,
                    overrides=["data.batch_size=16"], progress=False)  # fmt: skip
    assert not other.outcomes[0].cached
    assert other.outcomes[0].plan.run_dir not in {p.parent for p in stamps}


def test_interrupted_run_resumes(tmp_path):
    """A run directory without summary.json (killed) is finished on the next compare."""
    bench = Benchmark.load(text_benchmark(tmp_path))
    first = compare(bench, ["bce"], [0], tmp_path / "out", epochs=2,
                    overrides=["data.batch_size=16"], progress=False)  # fmt: skip
    run_dir = first.outcomes[0].plan.run_dir
    expected = json.loads((run_dir / "summary.json").read_text())["test"]["mAP"]
    (run_dir / "summary.json").unlink()
    again = compare(bench, ["bce"], [0], tmp_path / "out", epochs=2,
                    overrides=["data.batch_size=16"], progress=False)  # fmt: skip
    assert not again.outcomes[0].cached
    assert again.rows[0]["mAP"] == pytest.approx(expected)


def test_table_marks_best():
    rows = [
        {"method": "a", "seed": 0, "mAP": 0.5, "head": 0.9, "medium": 0.4, "tail": 0.1,
         "CF1": 0.3, "OF1": 0.6},
        {"method": "a", "seed": 1, "mAP": 0.7, "head": 0.9, "medium": 0.4, "tail": None,
         "CF1": 0.3, "OF1": 0.6},
        {"method": "b", "seed": 0, "mAP": 0.55, "head": 0.8, "medium": 0.5, "tail": 0.2,
         "CF1": 0.3, "OF1": 0.5},
    ]  # fmt: skip
    aggs = aggregate(rows)
    assert aggs[0]["mAP_mean"] == pytest.approx(0.6)
    assert aggs[0]["mAP_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert aggs[0]["tail_std"] is None and aggs[1]["mAP_std"] is None
    best = best_methods(aggs)
    assert best["mAP"] == {"a"} and best["tail"] == {"b"} and best["CF1"] == {"a", "b"}
    text = format_table(aggs)
    line_a = next(line for line in text.splitlines() if line.startswith("a "))
    assert "60.00 ± 14.14 *" in line_a
    assert cell(None, None) == "–" and cell(0.25, None) == "25.00"


def test_unknown_method_is_a_clear_error(tmp_path, capsys):
    bench = text_benchmark(tmp_path)
    code = main(["compare", "--benchmark", str(bench), "--methods", "bce,nope"])
    assert code == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_report_renders_in_chromium(done, tmp_path):
    _, out = done
    proc = subprocess.run(
        [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu",
         "--enable-logging=stderr", "--log-level=0", "--dump-dom",
         (out / "report.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the page's console messages (errors included) are logged as ":CONSOLE" lines; it has none
    assert [line for line in proc.stderr.splitlines() if ":CONSOLE" in line] == []
    dom = proc.stdout
    assert "<table" in dom and "palt compare" in dom
    # every embedded image decoded: Chromium keeps them as <img> with data URIs
    assert dom.count("data:image/png;base64,") == (out / "report.html").read_text().count(
        "data:image/png;base64,"
    )


def test_run_key_ignores_places_not_parameters(tmp_path):
    """The cache key is the same wherever the output goes, and changes with any parameter
    (including a method default filled in by the registry)."""
    from palt.report.plan import plan_runs

    bench = Benchmark.load(text_benchmark(tmp_path))
    a = plan_runs(bench, ["bce", "asl"], [0, 1], tmp_path / "a", epochs=1)
    b = plan_runs(bench, ["bce", "asl"], [0, 1], tmp_path / "b", epochs=1)
    assert [p.key for p in a] == [p.key for p in b]
    assert len({p.key for p in a}) == 4
    assert a[0].run_dir.parent == tmp_path / "a" / "runs"
    lr = plan_runs(bench, ["bce"], [0], tmp_path / "a", epochs=1, overrides=["optim.lr=0.1"])
    explicit = plan_runs(bench, ["bce"], [0], tmp_path / "a", epochs=1,
                         overrides=["method.params.unknown=negative"])  # fmt: skip
    assert lr[0].key != a[0].key
    assert explicit[0].key == a[0].key  # the default written out is the same run


def test_benchmark_argument(tmp_path):
    from palt.report import resolve_benchmark

    bench = text_benchmark(tmp_path)
    assert resolve_benchmark(str(bench), tmp_path / "out").name == "toy-text"
    with pytest.raises(FileNotFoundError, match="neither a benchmark directory"):
        resolve_benchmark(str(tmp_path / "nowhere"), tmp_path / "out")
    with pytest.raises(ValueError, match="palt build voc-mlt"):
        resolve_benchmark("voc-mlt", tmp_path / "out")
