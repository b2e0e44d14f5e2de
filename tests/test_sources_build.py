"""The source readers plugged into ``palt build``: VOC, COCO, OpenImages and table sources."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from palt.cli import main
from palt.data.benchmark import Benchmark
from palt.data.labelcsv import read_label_csv
from palt.data.sources import SOURCE_READERS, VOC_CLASSES

APPENDIX = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "db-appendix"
VOC_CSV = APPENDIX / "voc2012_trainval_labels.csv"
needs_appendix = pytest.mark.skipif(not VOC_CSV.is_file(), reason=f"{APPENDIX} not available")


def _voc_tree(root: Path, year: str, split: str, ids: list[str], flags: np.ndarray) -> Path:
    main_dir = root / "VOCdevkit" / f"VOC{year}" / "ImageSets" / "Main"
    main_dir.mkdir(parents=True)
    (main_dir / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    for k, c in enumerate(VOC_CLASSES):
        lines = "".join(f"{i} {f:2d}\n" for i, f in zip(ids, flags[:, k], strict=True))
        (main_dir / f"{c}_{split}.txt").write_text(lines)
    return main_dir / f"{split}.txt"


@needs_appendix
def test_a_voc_tree_reads_like_the_appendix_table(tmp_path):
    """Split-file order is the record order of DB's terse_gt_2012 (so voc-mlt gets its list)."""
    with open(VOC_CSV, newline="") as f:
        rows = list(csv.reader(f))[1:]
    ids = [r[0] for r in rows]
    flags = np.where(np.array([r[1:] for r in rows], dtype=int) == 1, 1, -1)
    trainval = _voc_tree(tmp_path, "2012", "trainval", ids, flags)
    template = "VOC2012/JPEGImages/{id}.jpg"
    ours = SOURCE_READERS["voc-difficult-positive"](trainval, template)
    assert ours == read_label_csv(VOC_CSV, template)


def test_voc_preset_from_voc_trees(tmp_path):
    rng = np.random.default_rng(0)
    p = np.geomspace(0.5, 0.05, 20)
    flags = np.where(
        rng.random((400, 20)) < p, rng.choice([1, 0], p=[0.9, 0.1], size=(400, 20)), -1
    )
    ids = [f"2009_{k:06d}" for k in range(400)]
    trainval = _voc_tree(tmp_path, "2012", "trainval", ids, flags)
    test_flags = np.array([[1] + [-1] * 19, [0, 1] + [-1] * 18])
    test = _voc_tree(tmp_path / "t", "2007", "test", ["000001", "000002"], test_flags)
    code = main(["build", "voc-mlt", "--source", str(trainval), "--source-format",
                 "voc-difficult-positive", "--test-source", str(test), "--max-count", "60",
                 "--out", str(tmp_path / "b")])  # fmt: skip
    assert code == 0
    bench = Benchmark.load(tmp_path / "b")
    assert bench.splits["test"].labels.to_dense()[1, :2].tolist() == [1, 1]  # difficult counts
    assert bench.splits["test"].inputs[0]["path"] == "VOC2007/JPEGImages/000001.jpg"
    train = bench.splits["train"]
    row = ids.index(train.labels.ids[0])
    assert train.labels.to_dense()[0].tolist() == np.where(flags[row] >= 0, 1, 0).tolist()
    assert train.inputs[0]["path"] == f"VOC2012/JPEGImages/{ids[row]}.jpg"


def _instances(path: Path, image_ids, labels: np.ndarray) -> None:
    cats = [{"id": cid, "name": f"cat{cid}"} for cid in range(90, 10, -1)]  # 80 ids, reversed
    anns = [
        {"id": n, "image_id": int(i), "category_id": 11 + int(c), "iscrowd": 0}
        for n, (i, c) in enumerate(
            (image_ids[r], c) for r, c in zip(*np.nonzero(labels), strict=True)
        )
    ]
    images = [{"id": int(i), "file_name": f"{int(i):012d}.jpg"} for i in image_ids]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def test_coco_preset_from_instances_json(tmp_path):
    rng = np.random.default_rng(0)
    p = np.geomspace(0.5, 0.01, 80)
    y = (rng.random((600, 80)) < p).astype(int)
    _instances(tmp_path / "train.json", rng.permutation(10**6)[:600] + 1, y)
    yv = (rng.random((40, 80)) < p).astype(int)
    _instances(tmp_path / "val.json", np.arange(1, 41), yv)
    code = main(["build", "coco-mlt", "--source", str(tmp_path / "train.json"), "--source-format",
                 "coco", "--test-source", str(tmp_path / "val.json"), "--max-count", "120",
                 "--out", str(tmp_path / "b")])  # fmt: skip
    assert code == 0
    bench = Benchmark.load(tmp_path / "b")
    assert bench.classes[:2] == ("cat11", "cat12")
    test = bench.splits["test"]
    assert test.labels.n_samples == 40 and test.inputs[3]["path"] == "val2017/000000000004.jpg"
    assert test.labels.to_dense().tolist() == yv.tolist()
    train_path = bench.splits["train"].inputs[0]["path"]
    assert train_path.startswith("train2017/") and len(train_path) == len("train2017/") + 16


def test_custom_from_a_table(tmp_path):
    rng = np.random.default_rng(1)
    names = ["cat", "dog", "bird", "fish"]
    with open(tmp_path / "t.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "path", "positives"])
        for k in range(300):
            pos = [n for n in names if rng.random() < 0.4] or ["cat"]
            w.writerow([f"s{k}", f"img/{k}.png", "|".join(pos)])
    code = main(["build", "custom", "--source", str(tmp_path / "t.csv"), "--source-format",
                 "table", "--missing", "drop-positives", "--out", str(tmp_path / "b")])  # fmt: skip
    assert code == 0
    bench = Benchmark.load(tmp_path / "b")
    assert bench.classes == ("bird", "cat", "dog", "fish")
    train = bench.splits["train"]
    assert train.inputs[0]["path"].startswith("img/")
    full, observed = train.full.to_dense(), train.labels.to_dense()
    assert np.all(full >= 0) and np.all(observed[observed == 1] == full[observed == 1])


def test_bad_source_error_reaches_the_cli(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("id,path,positives\na,../x.jpg,cat\n")
    code = main(["build", "custom", "--source", str(tmp_path / "t.csv"), "--source-format",
                 "table", "--out", str(tmp_path / "b")])  # fmt: skip
    assert code == 2
    assert "t.csv line 2: image path '../x.jpg' escapes the data root" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_custom_from_a_text_table(tmp_path):
    with open(tmp_path / "t.jsonl", "w") as f:
        for k in range(120):
            pos = ["a", "b", "c"][: 1 + k % 3]
            f.write(json.dumps({"id": f"d{k}", "text": f"doc {k}", "positives": pos}) + "\n")
    code = main(["build", "custom", "--source", str(tmp_path / "t.jsonl"), "--source-format",
                 "table", "--out", str(tmp_path / "b")])  # fmt: skip
    assert code == 0
    bench = Benchmark.load(tmp_path / "b")
    assert bench.input_kind == "text"
    assert bench.splits["train"].inputs[0]["text"].startswith("doc ")


@needs_appendix
def test_the_appendix_table_reads_the_same_with_table_and_label_csv():
    from palt.data.sources import read_table

    template = "VOC2012/JPEGImages/{id}.jpg"
    assert read_table(VOC_CSV, path_template=template) == read_label_csv(VOC_CSV, template)
