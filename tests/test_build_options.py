"""`palt build` options: a separate selection source (PLT-VOC fidelity), path templates."""

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from palt.cli import main
from palt.data.benchmark import Benchmark
from palt.data.longtail import pareto_reference_counts, select_longtail
from palt.data.sources import VOC_CLASSES
from palt.labels import LabelSet

APPENDIX = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "db-appendix"
VOC_CSV = APPENDIX / "voc2012_trainval_labels.csv"
needs_appendix = pytest.mark.skipif(not VOC_CSV.is_file(), reason=f"{APPENDIX} not available")


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0][1:], [r[0] for r in rows[1:]], np.array([r[1:] for r in rows[1:]], dtype=int)


def _write_csv(path, classes, ids, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", *classes])
        w.writerows([i, *row] for i, row in zip(ids, y.tolist(), strict=True))


def _selected_ids(classes, ids, y, b, max_count):
    """The DB sampler on 0/1 labels in the given record order (seed 0)."""
    labels = LabelSet.from_dense(y.astype(np.int8), classes, ids)
    ref = pareto_reference_counts(len(classes), b, max_count, 1)
    return [ids[r] for r in select_longtail(labels, ref, random.Random(0))]


# ---------------------------------------------------------------------- --select-source
@needs_appendix
def test_plt_voc_selects_on_db_labels_and_trains_on_others(tmp_path):
    classes, ids, y = _read_csv(VOC_CSV)
    # "flag-1" labels: about 8 % of the positives become 0 (standing for difficult-only objects)
    rng = np.random.default_rng(0)
    flag1 = np.where((y == 1) & (rng.random(y.shape) < 0.08), 0, y)
    order = rng.permutation(len(ids))  # the label source's record order must not matter
    flag1_csv = tmp_path / "flag1.csv"
    _write_csv(flag1_csv, classes, [ids[k] for k in order], flag1[order])

    out = tmp_path / "b"
    assert main(["build", "plt-voc", "--source", str(flag1_csv), "--select-source", str(VOC_CSV),
                 "--val-fraction", "0", "--missing", "none", "--out", str(out)]) == 0  # fmt: skip
    bench = Benchmark.load(out)
    train = bench.splits["train"]
    expected = _selected_ids(classes, ids, y, 12, 1400)
    assert len(expected) == 2569
    assert list(train.labels.ids) == expected
    row_of = {i: k for k, i in enumerate(ids)}
    assert train.labels.to_dense().tolist() == [flag1[row_of[i]].tolist() for i in expected]
    assert train.inputs[0] == {"id": expected[0], "path": f"VOC2012/JPEGImages/{expected[0]}.jpg"}
    # selecting on the flag-1 labels themselves gives another list
    assert _selected_ids(classes, ids, flag1, 12, 1400) != expected
    m = bench.manifest
    assert m["sources"]["select_source"]["path"] == VOC_CSV.name
    person_db = int(y[[row_of[i] for i in expected], classes.index("person")].sum())
    assert m["counts"]["longtail_select"]["positive"]["person"] == person_db == 1585
    assert m["counts"]["longtail"]["positive"]["person"] < 1585
    assert any("selected on the labels of" in n for n in m["notes"])


def _voc_tree(root, ids, flags):
    main_dir = root / "VOC2012" / "ImageSets" / "Main"
    main_dir.mkdir(parents=True)
    (main_dir / "trainval.txt").write_text("".join(f"{i}\n" for i in ids))
    for k, c in enumerate(VOC_CLASSES):
        lines = "".join(f"{i} {f:2d}\n" for i, f in zip(ids, flags[:, k], strict=True))
        (main_dir / f"{c}_trainval.txt").write_text(lines)
    return main_dir / "trainval.txt"


def test_the_documented_devkit_recipe(tmp_path):
    """--source-format voc + --select-format voc-difficult-positive on one VOC2012 tree."""
    rng = np.random.default_rng(3)
    n = 500
    present = rng.random((n, 20)) < np.geomspace(0.5, 0.04, 20)
    flags = np.where(present, np.where(rng.random((n, 20)) < 0.15, 0, 1), -1)
    ids = [f"2010_{k:06d}" for k in range(n)]
    trainval = _voc_tree(tmp_path, ids, flags)
    out = tmp_path / "b"
    assert main(["build", "plt-voc", "--source", str(trainval), "--source-format", "voc",
                 "--select-source", str(trainval), "--select-format", "voc-difficult-positive",
                 "--max-count", "90", "--val-fraction", "0", "--missing", "none",
                 "--out", str(out)]) == 0  # fmt: skip
    bench = Benchmark.load(out)
    assert bench.manifest["params"]["source_format"] == "voc"
    assert any(
        "(voc-difficult-positive, in its record order)" in n for n in bench.manifest["notes"]
    )
    train = bench.splits["train"]
    expected = _selected_ids(list(VOC_CLASSES), ids, (flags >= 0).astype(int), 12, 90)
    assert list(train.labels.ids) == expected
    rows = [ids.index(i) for i in expected]
    assert train.labels.to_dense().tolist() == (flags[rows] == 1).astype(int).tolist()


def _small(path, ids, classes=("a", "b", "c")):
    y = np.zeros((len(ids), len(classes)), dtype=int)
    y[np.arange(len(ids)), np.arange(len(ids)) % len(classes)] = 1
    _write_csv(path, classes, ids, y)
    return path


def _build(tmp_path, source, select, *extra):
    return main(["build", "custom", "--source", str(source), "--select-source", str(select),
                 "--pareto-b", "6", "--max-count", "5", "--out", str(tmp_path / "o"),
                 *extra])  # fmt: skip


def test_select_source_ids_and_classes_must_match(tmp_path, capsys):
    ids = [f"s{k}" for k in range(30)]
    source = _small(tmp_path / "src.csv", ids)
    other = _small(tmp_path / "sel.csv", [*ids[1:], "zz"])
    assert _build(tmp_path, source, other) == 2
    err = capsys.readouterr().err
    assert f"--select-source {other} and --source {source} must list the same ids" in err
    assert "1 only in the select source (first 'zz'), 1 only in the source (first 's0')" in err
    shorter = _small(tmp_path / "short.csv", ids[:-1])
    assert _build(tmp_path, source, shorter) == 2
    assert "0 only in the select source, 1 only in the source (first 's29')" in (
        capsys.readouterr().err
    )
    renamed = _small(tmp_path / "cls.csv", ids, classes=("a", "b", "x"))
    assert _build(tmp_path, source, renamed) == 2
    assert "classes ['a', 'b', 'x'] differ from the classes of --source" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_select_source_needs_a_long_tail(tmp_path, capsys):
    source = _small(tmp_path / "src.csv", [f"s{k}" for k in range(30)])
    code = main(["build", "custom", "--source", str(source), "--select-source", str(source),
                 "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    assert "has no long-tail step" in capsys.readouterr().err


# ---------------------------------------------------------------------- --path-template
def _instances(path, image_ids, y):
    cats = [{"id": c + 1, "name": f"k{c}"} for c in range(y.shape[1])]
    anns = [
        {"id": n, "image_id": image_ids[r], "category_id": int(c) + 1, "iscrowd": 0}
        for n, (r, c) in enumerate(zip(*np.nonzero(y), strict=True))
    ]
    images = [{"id": i, "file_name": f"COCO_{i:012d}.jpg"} for i in image_ids]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def test_path_templates_with_coco_through_custom(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = (rng.random((80, 4)) < 0.4).astype(int)
    train_ids = [int(i) for i in rng.permutation(10**5)[:80] + 1]
    _instances(tmp_path / "train.json", train_ids, y)
    _instances(tmp_path / "val.json", [7, 9], np.array([[1, 0, 0, 0], [0, 1, 1, 0]]))
    out = tmp_path / "b"
    args = ["build", "custom", "--source", str(tmp_path / "train.json"), "--source-format", "coco",
            "--test-source", str(tmp_path / "val.json"), "--out", str(out)]  # fmt: skip
    assert main([*args, "--path-template", "train2017/{file_name}",
                 "--test-path-template", "val2017/{id:0>12}.jpg"]) == 0  # fmt: skip
    bench = Benchmark.load(out)
    for split in ("train", "val"):
        for item in bench.splits[split].inputs:
            assert item["path"] == f"train2017/COCO_{int(item['id']):012d}.jpg"
    assert [x["path"] for x in bench.splits["test"].inputs] == [
        "val2017/000000000007.jpg",
        "val2017/000000000009.jpg",
    ]
    assert bench.manifest["params"]["train_paths"] == "train2017/{file_name}"
    # one template for both sources
    assert main([*args, "--path-template", "img/{id}.jpg"]) == 0
    bench = Benchmark.load(out)
    assert bench.splits["test"].inputs[1]["path"] == "img/9.jpg"
    assert (
        bench.splits["train"].inputs[0]["path"]
        == f"img/{bench.splits['train'].inputs[0]['id']}.jpg"
    )
    # without a template, custom's default is the bare id
    assert main(args) == 0
    assert Benchmark.load(out).splits["test"].inputs[0]["path"] == "7"
    capsys.readouterr()
    assert main([*args, "--path-template", "../{file_name}"]) == 2
    assert "escapes the data root" in capsys.readouterr().err
    assert main([*args, "--path-template", "{nope}.jpg"]) == 2
    assert "available fields: ['file_name', 'id']" in capsys.readouterr().err


def test_path_template_needs_an_image_source(tmp_path, capsys):
    code = main(["build", "debtags-plt", "--path-template", "{id}", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "debtags-plt reads no image sources" in capsys.readouterr().err


# ---------------------------------------------------------------------- custom reads tables
def test_custom_reads_tables_by_default_and_label_csv_on_request(tmp_path, capsys):
    lists = tmp_path / "lists.csv"
    lists.write_text("id,path,positives\na,x/a.png,cat|dog\nb,x/b.png,dog\nc,x/c.png,\n")
    assert main(["build", "custom", "--source", str(lists), "--val-fraction", "0",
                 "--out", str(tmp_path / "t")]) == 0  # fmt: skip
    bench = Benchmark.load(tmp_path / "t")
    assert bench.manifest["params"]["source_format"] == "table"
    train = bench.splits["train"]
    assert bench.classes == ("cat", "dog")
    assert train.labels.to_dense().tolist() == [[1, 1], [0, 1], [0, 0]]
    assert [x["path"] for x in train.inputs] == ["x/a.png", "x/b.png", "x/c.png"]

    dense = _small(tmp_path / "dense.csv", [f"s{k}" for k in range(6)])
    for fmt in ([], ["--source-format", "label-csv"]):
        out = tmp_path / f"d{len(fmt)}"
        assert main(["build", "custom", "--source", str(dense), "--val-fraction", "0",
                     "--out", str(out), *fmt]) == 0  # fmt: skip
        train = Benchmark.load(out).splits["train"]
        assert train.labels.to_dense().tolist() == _read_csv(dense)[2].tolist()
        assert train.inputs[4] == {"id": "s4", "path": "s4"}
    capsys.readouterr()
    assert main(["build", "custom", "--source", str(lists), "--source-format", "label-csv",
                 "--out", str(tmp_path / "e")]) == 2  # fmt: skip
    assert "lists.csv line 2" in capsys.readouterr().err
