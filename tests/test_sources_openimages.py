"""OpenImages reader: hand-written CSVs in the V6 format, sparse result, options, bad input."""

import csv

import numpy as np
import pytest

from palt.data.sources import (
    SOURCE_READERS,
    SourceError,
    read_class_descriptions,
    read_openimages,
    read_trainable_classes,
)

LABELS = """ImageID,Source,LabelName,Confidence
000002b66c9c498e,verification,/m/014j1m,0
000002b66c9c498e,verification,/m/014sv8,1
000002b66c9c498e,crowdsource-verification,/m/01bl7v,1
000002b97e5471a0,verification,/m/05s2s,1
000002b97e5471a0,machine,/m/0c9ph5,0.7
000002c707c9895e,verification,/m/014sv8,0
0000048549557964,machine,/m/0c9ph5,0.6
000002b66c9c498e,verification,/m/014sv8,1
00000c4fbe31d1cf,verification,/m/09j5n,1
"""
TRAINABLE = "/m/014sv8\n/m/01bl7v\n/m/05s2s\n/m/0c9ph5\n/m/014j1m\n"
DESCRIPTIONS = """LabelName,DisplayName
/m/014j1m,Apple
/m/014sv8,Human eye
/m/01bl7v,Boy
/m/05s2s,Plant
/m/0c9ph5,Flower
/m/09j5n,Footwear
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "oidv6-train-annotations-human-imagelabels.csv").write_text(LABELS)
    (tmp_path / "oidv6-classes-trainable.txt").write_text(TRAINABLE)
    (tmp_path / "oidv6-class-descriptions.csv").write_text(DESCRIPTIONS)
    return tmp_path


def test_trainable_label_space(files):
    classes = read_trainable_classes(files / "oidv6-classes-trainable.txt")
    labels, inputs = read_openimages(
        files / "oidv6-train-annotations-human-imagelabels.csv", classes=classes
    )
    assert labels.is_sparse and labels.unlisted == "unknown"
    assert labels.classes == ("/m/014sv8", "/m/01bl7v", "/m/05s2s", "/m/0c9ph5", "/m/014j1m")
    # 0000048549557964 has a machine label only; 00000c4fbe31d1cf only a non-trainable class
    assert labels.ids == ("000002b66c9c498e", "000002b97e5471a0", "000002c707c9895e")
    assert labels.to_dense().tolist() == [
        [1, 1, -1, -1, 0],
        [-1, -1, 1, -1, -1],
        [0, -1, -1, -1, -1],
    ]
    assert inputs[1] == {"id": "000002b97e5471a0", "path": "000002b97e5471a0.jpg"}


def test_without_a_class_list_every_verified_mid_sorted(files):
    labels, _ = read_openimages(files / "oidv6-train-annotations-human-imagelabels.csv")
    assert labels.classes == ("/m/014j1m", "/m/014sv8", "/m/01bl7v", "/m/05s2s", "/m/09j5n")
    assert labels.ids[-1] == "00000c4fbe31d1cf"
    assert labels.positive_counts().tolist() == [0, 1, 1, 1, 1]
    assert labels.negative_counts().tolist() == [1, 1, 0, 0, 0]


def test_display_names_with_and_without_header(files, tmp_path):
    names = read_class_descriptions(files / "oidv6-class-descriptions.csv")
    assert names["/m/014sv8"] == "Human eye"
    headerless = tmp_path / "class-descriptions.csv"
    headerless.write_text(DESCRIPTIONS.split("\n", 1)[1] + "/m/0xyz,Apple\n")
    names = read_class_descriptions(headerless)
    labels, _ = read_openimages(
        files / "oidv6-train-annotations-human-imagelabels.csv",
        classes=["/m/014j1m", "/m/0xyz", "/m/05s2s"],
        descriptions=names,
    )
    assert labels.classes == ("Apple (/m/014j1m)", "Apple (/m/0xyz)", "Plant")


def test_registered_reader_finds_the_trainable_list(files):
    labels, inputs = SOURCE_READERS["openimages"](
        files / "oidv6-train-annotations-human-imagelabels.csv", "train/{id}.jpg"
    )
    assert labels.n_classes == 5 and labels.n_samples == 3
    assert inputs[0]["path"] == "train/000002b66c9c498e.jpg"
    (files / "other-trainable.txt").write_text(TRAINABLE)
    with pytest.raises(SourceError, match="several trainable-class lists"):
        SOURCE_READERS["openimages"](
            files / "oidv6-train-annotations-human-imagelabels.csv", "{id}"
        )


def test_conflicting_states(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text(LABELS + "000002b66c9c498e,verification,/m/014j1m,1\n")
    with pytest.raises(
        SourceError,
        match="image '000002b66c9c498e', class '/m/014j1m' is listed with Confidence 1 and 0",
    ):
        read_openimages(path)
    labels, _ = read_openimages(path, conflicts="unknown")
    assert labels.rows([0])[0, labels.classes.index("/m/014j1m")] == -1
    labels, _ = read_openimages(path, conflicts="positive")
    assert labels.rows([0])[0, labels.classes.index("/m/014j1m")] == 1


def test_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_openimages(tmp_path / "missing.csv")
    path = tmp_path / "l.csv"
    path.write_text("ImageID,Source,LabelName\nabc,verification,/m/01\n")
    with pytest.raises(
        SourceError,
        match="l.csv line 1: expected a header with columns ImageID, LabelName, Confidence",
    ):
        read_openimages(path)
    path.write_text(LABELS + "000002b66c9c498e,verification,/m/014j1m\n")
    with pytest.raises(SourceError, match="l.csv line 11: expected 4 columns, got 3"):
        read_openimages(path)
    path.write_text(LABELS + "000002b66c9c498e,verification,/m/014j1m,yes\n")
    with pytest.raises(SourceError, match="l.csv line 11: Confidence 'yes'"):
        read_openimages(path)
    path.write_text(LABELS + "../etc,verification,/m/014j1m,1\n")
    with pytest.raises(SourceError, match="l.csv line 11: id '../etc' is not a plain name"):
        read_openimages(path)
    (tmp_path / "t.txt").write_text("/m/01\n/m/02\n/m/01\n")
    with pytest.raises(SourceError, match="t.txt line 3: '/m/01' repeats line 1"):
        read_trainable_classes(tmp_path / "t.txt")


def test_against_a_slow_dictionary_on_random_rows(tmp_path):
    rng = np.random.default_rng(3)
    mids = [f"/m/{k:04x}" for k in range(40)]
    images = [f"{k:016x}" for k in rng.integers(0, 2**60, size=200)]
    path = tmp_path / "l.csv"
    truth: dict[tuple[str, str], int] = {}
    order: list[str] = []
    space = set(mids[:30])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ImageID", "Source", "LabelName", "Confidence"])
        for _ in range(3000):
            img, mid = images[int(rng.integers(200))], mids[int(rng.integers(40))]
            conf = ["1", "0", "0.5"][int(rng.integers(3))]
            if (img, mid) in truth and conf != "0.5":
                conf = "1" if truth[(img, mid)] == 1 else "0"  # keep the file conflict-free
            w.writerow([img, "verification", mid, conf])
            if conf != "0.5" and mid in space:
                truth[(img, mid)] = int(conf)
                if img not in order:
                    order.append(img)
    labels, _ = read_openimages(path, classes=mids[:30])
    assert list(labels.ids) == order
    dense = labels.to_dense()
    for r, img in enumerate(order):
        for c, mid in enumerate(mids[:30]):
            assert dense[r, c] == truth.get((img, mid), -1)
