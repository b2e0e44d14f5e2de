"""Pascal VOC reader: hand-written ImageSets and XML files, difficult policies, bad input."""

import numpy as np
import pytest

from palt.data.sources import DEFAULT_DIFFICULT, SOURCE_READERS, VOC_CLASSES, SourceError, read_voc

CLASSES = ("cat", "dog", "person")
SPLIT = "000001\n000002\n000004\n000005\n"
# VOC class files pad the flag to two characters: "000001  1" / "000001 -1".
CLASS_FILES = {
    "cat": "000001 -1\n000002  0\n000004  1\n000005 -1\n",
    "dog": "000001  1\n000002 -1\n000004 -1\n000005  0\n",
    "person": "000001  1\n000002 -1\n000004  1\n000005  1\n",
}


def _xml(filename, objects):
    body = "".join(
        f"<object><name>{n}</name><pose>Left</pose><truncated>0</truncated>"
        + (f"<difficult>{d}</difficult>" if d is not None else "")
        + "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox>"
        + "<part><name>head</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax>"
        + "<ymax>4</ymax></bndbox></part></object>"
        for n, d in objects
    )
    return (
        f"<annotation><folder>VOC2007</folder><filename>{filename}.jpg</filename>"
        "<size><width>353</width><height>500</height><depth>3</depth></size>"
        f"<segmented>0</segmented>{body}</annotation>\n"
    )


XML = {
    "000001": [("dog", 0), ("person", 0)],
    "000002": [("cat", 1)],
    "000004": [("person", 1), ("person", 0), ("cat", 0)],
    "000005": [("dog", 1), ("dog", 1), ("person", None)],  # no <difficult> tag: not difficult
}
# flags 1 / 0 (difficult only) / -1, by hand, rows in split order, columns cat, dog, person
FLAGS = [[-1, 1, 1], [0, -1, -1], [1, -1, 1], [-1, 0, 1]]


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "VOCdevkit" / "VOC2007"
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "test.txt").write_text(SPLIT)
    for c, text in CLASS_FILES.items():
        (main / f"{c}_test.txt").write_text(text)
    (root / "Annotations").mkdir()
    for i, objects in XML.items():
        (root / "Annotations" / f"{i}.xml").write_text(_xml(i, objects))
    return main / "test.txt"


def _expected(policy):
    fill = {"positive": 1, "negative": 0, "ignore": -1}[policy]
    return [[{1: 1, -1: 0, 0: fill}[f] for f in row] for row in FLAGS]


@pytest.mark.parametrize("policy", ["positive", "negative", "ignore"])
@pytest.mark.parametrize("labels_from", ["imagesets", "annotations"])
def test_policies_from_class_files_and_from_xml(voc, policy, labels_from):
    labels, inputs = read_voc(voc, difficult=policy, labels_from=labels_from, classes=CLASSES)
    assert labels.ids == ("000001", "000002", "000004", "000005")
    assert labels.classes == CLASSES
    assert labels.to_dense().tolist() == _expected(policy)
    assert inputs[2] == {"id": "000004", "path": "JPEGImages/000004.jpg"}


def test_default_is_flag_one_only(voc):
    assert DEFAULT_DIFFICULT == "negative"
    labels, _ = read_voc(voc, classes=CLASSES)
    assert labels.to_dense().tolist() == _expected("negative")


def test_auto_falls_back_to_xml_and_rejects_a_partial_set(voc):
    (voc.parent / "cat_test.txt").unlink()
    with pytest.raises(SourceError, match="cat_test.txt: class file not found"):
        read_voc(voc, classes=CLASSES)
    for c in ("dog", "person"):
        (voc.parent / f"{c}_test.txt").unlink()
    labels, _ = read_voc(voc, classes=CLASSES, difficult="ignore")
    assert labels.to_dense().tolist() == _expected("ignore")


def test_registered_variants_with_the_twenty_classes(tmp_path):
    main = tmp_path / "VOC2012" / "ImageSets" / "Main"
    main.mkdir(parents=True)
    ids = ["2008_000002", "2008_000003", "2011_003276"]
    (main / "trainval.txt").write_text("\n".join(ids) + "\n")
    rng = np.random.default_rng(0)
    flags = rng.choice([1, 0, -1], size=(3, 20))
    for k, c in enumerate(VOC_CLASSES):
        (main / f"{c}_trainval.txt").write_text(
            "".join(f"{i} {f:2d}\n" for i, f in zip(ids, flags[:, k], strict=True))
        )
    for name, fill in (("voc", 0), ("voc-difficult-positive", 1), ("voc-difficult-ignore", -1)):
        labels, inputs = SOURCE_READERS[name](main / "trainval.txt", "VOC2012/JPEGImages/{id}.jpg")
        assert (
            labels.to_dense().tolist()
            == np.where(flags == 0, fill, np.where(flags == 1, 1, 0)).tolist()
        )
        assert inputs[0]["path"] == "VOC2012/JPEGImages/2008_000002.jpg"


# ---------------------------------------------------------------------- bad input
def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="trainval.txt"):
        read_voc(tmp_path / "ImageSets" / "Main" / "trainval.txt")


def test_duplicated_id_in_split(voc):
    voc.write_text(SPLIT + "000002\n")
    with pytest.raises(
        SourceError, match=r"test.txt line 5: duplicated id '000002' \(first on line 2\)"
    ):
        read_voc(voc, classes=CLASSES)


def test_id_escaping_the_root(voc):
    voc.write_text("../../../etc/passwd\n")
    with pytest.raises(
        SourceError, match="test.txt line 1: id '../../../etc/passwd' is not a plain name"
    ):
        read_voc(voc, classes=CLASSES, labels_from="annotations")


def test_class_file_errors(voc):
    dog = voc.parent / "dog_test.txt"
    dog.write_text("000001  1\n000002 -1 extra\n")
    with pytest.raises(
        SourceError, match="dog_test.txt line 2: expected '<image id> <flag>', got 3"
    ):
        read_voc(voc, classes=CLASSES)
    dog.write_text("000001  2\n")
    with pytest.raises(SourceError, match="dog_test.txt line 1: flag '2'"):
        read_voc(voc, classes=CLASSES)
    dog.write_text("000001  1\n000002 -1\n000004 -1\n")
    with pytest.raises(
        SourceError, match="dog_test.txt: id '000005' of the split file is not listed"
    ):
        read_voc(voc, classes=CLASSES)
    dog.write_text(CLASS_FILES["dog"] + "000009  1\n")
    with pytest.raises(SourceError, match="dog_test.txt line 5: id '000009' is not in the split"):
        read_voc(voc, classes=CLASSES)


def test_xml_errors(voc):
    ann = voc.parents[2] / "Annotations"
    (ann / "000002.xml").write_text(_xml("000002", [("unicorn", 0)]))
    with pytest.raises(SourceError, match="000002.xml: object 0 has unknown class name 'unicorn'"):
        read_voc(voc, classes=CLASSES, labels_from="annotations")
    (ann / "000002.xml").write_text(_xml("000002", [("cat", 0)])[:90])
    with pytest.raises(SourceError, match=r"000002.xml: invalid XML at line 1, column \d+"):
        read_voc(voc, classes=CLASSES, labels_from="annotations")
    (ann / "000002.xml").write_text('<!DOCTYPE a [<!ENTITY x "y">]><annotation/>')
    with pytest.raises(SourceError, match="000002.xml: DTDs and entities are not allowed"):
        read_voc(voc, classes=CLASSES, labels_from="annotations")
    (ann / "000002.xml").unlink()
    with pytest.raises(FileNotFoundError, match="000002.xml: VOC annotation file not found"):
        read_voc(voc, classes=CLASSES, labels_from="annotations")


def test_split_file_outside_imagesets(tmp_path):
    f = tmp_path / "trainval.txt"
    f.write_text("000001\n")
    with pytest.raises(SourceError, match="inside <VOC20xx>/ImageSets/Main/"):
        read_voc(f)
