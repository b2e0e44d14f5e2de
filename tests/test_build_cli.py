"""`palt build` / `palt stats`: published lists, byte-identical rebuilds, atomic failure, errors."""

import csv
import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest

from palt.cli import main
from palt.data.benchmark import Benchmark
from palt.data.build import BuildInputs, build_benchmark
from palt.data.labelcsv import read_label_csv
from palt.data.longtail import pareto_reference_counts, select_longtail
from palt.data.presets import VOC_CLASSES, get_preset
from palt.labels import LabelSet

APPENDIX = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "db-appendix"
VOC_CSV = APPENDIX / "voc2012_trainval_labels.csv"
needs_appendix = pytest.mark.skipif(not VOC_CSV.is_file(), reason=f"{APPENDIX} not available")


def _write_table(path, n=400, classes=VOC_CLASSES, seed=0, prefix="img"):
    rng = np.random.default_rng(seed)
    p = np.geomspace(0.6, 0.05, len(classes))
    y = (rng.random((n, len(classes))) < p).astype(int)
    y[y.sum(1) == 0, 0] = 1
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", *classes])
        for i, row in enumerate(y):
            w.writerow([f"{prefix}{i:05d}", *row])
    return y


def _files(root):
    return {
        p.relative_to(root): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------------- published protocols
@needs_appendix
def test_voc_mlt_train_is_the_published_list(tmp_path, capsys):
    assert main(["build", "voc-mlt", "--source", str(VOC_CSV), "--val-fraction", "0",
                 "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    assert "NO TEST SPLIT" in capsys.readouterr().out
    bench = Benchmark.load(tmp_path / "b")
    assert (
        list(bench.splits["train"].labels.ids)
        == (APPENDIX / "voc_mlt_img_ids.txt").read_text().split()
    )
    assert set(bench.splits) == {"train"}
    assert bench.splits["train"].inputs[0]["path"] == "VOC2012/JPEGImages/2008_000023.jpg"
    m = bench.manifest
    assert m["counts"]["longtail"]["positive"]["person"] == 775
    assert m["counts"]["source"]["positive"]["person"] == 4374
    assert any("NO TEST SPLIT" in n for n in m["notes"])


@needs_appendix
def test_plt_voc_split_and_missing_labels(tmp_path):
    test_csv = tmp_path / "test.csv"
    _write_table(test_csv, n=50, prefix="2007_")
    assert main(["build", "plt-voc", "--source", str(VOC_CSV), "--test-source", str(test_csv),
                 "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    bench = Benchmark.load(tmp_path / "b")
    train, val, test = (bench.splits[s] for s in ("train", "val", "test"))
    assert train.labels.n_samples + val.labels.n_samples == 2569
    assert abs(val.labels.n_samples - 257) <= 3
    assert test.labels.n_samples == 50 and test.inputs[0]["path"].startswith("VOC2007/")
    full, obs = train.full.to_dense(), train.labels.to_dense()
    assert np.all(obs[obs == 1] == full[obs == 1]) and not np.any(obs == 0)
    assert np.all((obs == 1).sum(1) >= 1)
    kept = (obs == 1).sum() / (full == 1).sum()
    assert 0.66 < kept < 0.74  # ρ = 0.4 with one positive restored per emptied image (≈ 0.70)
    assert val.full is None and not np.any(val.labels.to_dense() == -1)
    # groups come from observed training positives with the default rule
    counts = train.labels.positive_counts()
    assert all(counts[c] >= 100 for c in bench.groups()["head"])
    assert all(counts[c] < 20 for c in bench.groups()["tail"])


@needs_appendix
def test_coco_stream_source_replays_the_voc_selection_first(tmp_path):
    coco = tmp_path / "coco.csv"
    classes = [f"c{j}" for j in range(80)]
    y = _write_table(coco, n=3000, classes=classes, seed=1)
    preset = dataclasses.replace(get_preset("coco-mlt"), val_fraction=0.0)
    build_benchmark(preset, tmp_path / "b", BuildInputs(source=coco, stream_source=VOC_CSV))
    rng = random.Random(0)
    voc = read_label_csv(VOC_CSV)[0]
    assert len(select_longtail(voc, pareto_reference_counts(20, 6, 800, 1), rng)) == 1142
    labels = LabelSet.from_dense(y.astype(np.int8), classes)
    rows = select_longtail(
        labels, pareto_reference_counts(80, 6, 1200, 1), rng, cap_to_available=True
    )
    bench = Benchmark.load(tmp_path / "b")
    assert list(bench.splits["train"].labels.ids) == [f"img{r:05d}" for r in rows]
    assert bench.manifest["sources"]["stream_source"]["path"] == VOC_CSV.name


# ---------------------------------------------------------------------- determinism, atomicity
def _custom(src, out, *extra):
    return main(["build", "custom", "--source", str(src), "--pareto-b", "6", "--max-count", "150",
                 "--missing", "drop-positives", "--out", str(out), *extra])  # fmt: skip


def test_rebuild_is_byte_identical(tmp_path):
    src = tmp_path / "t.csv"
    _write_table(src)
    assert _custom(src, tmp_path / "a") == 0
    assert _custom(src, tmp_path / "b") == 0
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert _custom(src, tmp_path / "c", "--seed", "1") == 0
    assert _files(tmp_path / "c") != a
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["params"]["longtail"] == {"b": 6.0, "max_count": 150, "min_count": 1,
                                              "cap_to_available": False}  # fmt: skip
    assert manifest["sources"]["source"]["path"] == "t.csv"
    assert set(manifest["counts"]) >= {"source", "longtail", "train_full", "train_observed", "val"}


def test_failed_build_leaves_previous_output(tmp_path, capsys):
    src, bad = tmp_path / "t.csv", tmp_path / "bad.csv"
    _write_table(src)
    bad.write_text("image_id," + ",".join(VOC_CLASSES) + "\nx1," + ",".join(["0"] * 19) + "\n")
    assert _custom(src, tmp_path / "out") == 0
    before = _files(tmp_path / "out")
    assert _custom(src, tmp_path / "out", "--test-source", str(bad)) == 2
    err = capsys.readouterr().err
    assert "bad.csv line 2: expected 21 columns, got 20" in err
    assert _files(tmp_path / "out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "out", "t.csv"]


HEADER = "image_id," + ",".join(VOC_CLASSES) + "\n"


def _row(image_id, first):
    return f"{image_id},{first}," + ",".join(["0"] * 19) + "\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "label file not found"),
        ("image_id,a,b\nx,1,0\n", "classes ['a', 'b'] differ from the voc-mlt classes"),
        (HEADER + _row("x", 2), "line 2, column 'aeroplane': value '2'; expected 1, 0 or -1"),
        (HEADER + _row("x", 1) + _row("x", 0), "line 3: image id 'x' already on line 2"),
        (HEADER, "no data rows"),
    ],
)
def test_bad_source_errors(tmp_path, capsys, content, message):
    path = tmp_path / "s.csv"
    if content is not None:
        path.write_text(content)
    code = main(["build", "voc-mlt", "--source", str(path), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "s.csv" in err
    assert not (tmp_path / "o").exists()


def test_argument_errors(tmp_path, capsys):
    src = tmp_path / "t.csv"
    _write_table(src)
    assert main(["build", "voc-mlt", "--out", str(tmp_path / "o")]) == 2
    assert "needs --source" in capsys.readouterr().err
    assert main(["build", "custom", "--source", str(src), "--missing", "nope",
                 "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "unknown scheme 'nope'" in capsys.readouterr().err
    assert main(["build", "custom", "--source", str(src), "--pareto-b", "6",
                 "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "needs both --pareto-b and --max-count" in capsys.readouterr().err
    too_many = ["build", "custom", "--source", str(src), "--pareto-b", "2", "--max-count", "900",
                "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(too_many) == 2
    assert "more images but only" in capsys.readouterr().err
    assert main([*too_many, "--cap"]) == 0


# ---------------------------------------------------------------------- stats
def test_stats_table_and_plot(tmp_path, capsys):
    src = tmp_path / "t.csv"
    _write_table(src)
    assert _custom(src, tmp_path / "b") == 0
    capsys.readouterr()
    png = tmp_path / "freq.png"
    assert main(["stats", str(tmp_path / "b"), "--classes", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    bench = Benchmark.load(tmp_path / "b")
    counts = bench.splits["train"].labels.positive_counts()
    for g, members in bench.groups().items():
        line = next(x for x in out.splitlines() if x.startswith(f"{g} ") and "classes" not in x)
        assert line.split()[1] == str(len(members))
        if members:
            assert line.split()[-1] == str(int(counts[members].sum()))
    assert "person" in out or "aeroplane" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------- built-in presets
def test_debtags_plt(tmp_path):
    preset = get_preset("debtags-plt")
    build_benchmark(preset, tmp_path / "d", BuildInputs())
    bench = Benchmark.load(tmp_path / "d")
    sizes = {s: d.labels.n_samples for s, d in bench.splits.items()}
    total = sum(sizes.values())
    assert abs(sizes["test"] / total - 0.2) < 0.01 and abs(sizes["val"] / total - 0.1) < 0.01
    train = bench.splits["train"]
    assert (
        train.full is not None
        and train.labels.positive_counts().sum() < train.full.positive_counts().sum()
    )
    assert bench.splits["test"].full is None
    assert bench.input_kind == "text" and "depends:" in bench.splits["val"].inputs[0]["text"]
    assert any("incomplete" in n for n in bench.manifest["notes"])
    assert bench.manifest["sources"]["snapshot"]["path"] == "debtags.jsonl.gz"


def test_multimnist_lt_from_idx_files(tmp_path):
    from palt.data.builtin.multimnist import write_idx

    rng = np.random.default_rng(0)
    for folder in ("mnist", "fashion"):
        for split, n in (("train", 200), ("t10k", 60)):
            d = tmp_path / folder
            d.mkdir(exist_ok=True)
            write_idx(
                d / f"{split}-images-idx3-ubyte.gz",
                rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            )
            write_idx(d / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    preset = get_preset("multimnist-lt")
    small = dataclasses.replace(preset, extra={**preset.extra, "n_trainval": 150, "n_test": 40})
    inputs = BuildInputs(mnist=tmp_path / "mnist", fashion=tmp_path / "fashion")
    build_benchmark(small, tmp_path / "a", inputs)
    build_benchmark(small, tmp_path / "b", inputs)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    bench = Benchmark.load(tmp_path / "a")
    assert len(bench.classes) == 20 and bench.input_kind == "array"
    sizes = {s: d.labels.n_samples for s, d in bench.splits.items()}
    assert sizes["train"] + sizes["val"] == 150 and sizes["test"] == 40
    assert bench.splits["test"].images.shape == (40, 64, 64)
    assert bench.splits["train"].full is not None and bench.splits["test"].full is None
    assert len(bench.manifest["sources"]) == 8


def test_custom_carves_a_test_split(tmp_path, capsys):
    src = tmp_path / "t.csv"
    _write_table(src, n=300)
    out = tmp_path / "b"
    assert main(["build", "custom", "--source", str(src), "--test-fraction", "0.2",
                 "--image-root", str(tmp_path), "--out", str(out)]) == 0  # fmt: skip
    assert "NO TEST SPLIT" not in capsys.readouterr().out
    bench = Benchmark.load(out)
    sizes = {s: d.labels.n_samples for s, d in bench.splits.items()}
    assert sum(sizes.values()) == 300 and abs(sizes["test"] - 60) <= 6
    assert bench.image_path("test", 0).parent == tmp_path.resolve()
    assert main(["build", "custom", "--source", str(src), "--test-fraction", "0.2",
                 "--test-source", str(src), "--out", str(out)]) == 2  # fmt: skip
    assert "either --test-source or --test-fraction" in capsys.readouterr().err


def test_csl_fix_per_class_through_the_cli(tmp_path):
    src = tmp_path / "t.csv"
    y = _write_table(src, n=300)
    out = tmp_path / "b"
    assert main(["build", "custom", "--source", str(src), "--val-fraction", "0",
                 "--missing", "fix-per-class", "--missing-value", "20", "--out", str(out)]) == 0  # fmt: skip
    bench = Benchmark.load(out)
    obs = bench.splits["train"].labels.to_dense()
    assert np.array_equal((obs == 1).sum(0), np.minimum(20, y.sum(0)))
    assert np.array_equal((obs == 0).sum(0), np.minimum(20, 300 - y.sum(0)))
    assert any("hidden entries are unknown" in n for n in bench.manifest["notes"])
