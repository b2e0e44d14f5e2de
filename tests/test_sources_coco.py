"""COCO instances JSON reader: a hand-written file in the real format, options, bad input."""

import json

import numpy as np
import pytest

from palt.data.sources import SOURCE_READERS, SourceError, read_coco

# Category ids are non-contiguous and listed out of order on purpose; image 7 has only a crowd
# annotation, image 9 has none.
INSTANCES = """{
  "info": {"description": "hand-written fixture", "year": 2017},
  "licenses": [],
  "images": [
    {"id": 397133, "file_name": "000000397133.jpg", "width": 640, "height": 427},
    {"id": 7, "file_name": "000000000007.jpg", "width": 640, "height": 480},
    {"id": 9, "file_name": "000000000009.jpg", "width": 640, "height": 480},
    {"id": 12, "file_name": "000000000012.jpg", "width": 500, "height": 375}
  ],
  "annotations": [
    {"id": 1, "image_id": 397133, "category_id": 90, "iscrowd": 0, "area": 10.0,
     "bbox": [0, 0, 5, 2], "segmentation": [[0, 0, 5, 0, 5, 2]]},
    {"id": 2, "image_id": 397133, "category_id": 1, "iscrowd": 0, "area": 4.0,
     "bbox": [1, 1, 2, 2], "segmentation": [[1, 1, 3, 1, 3, 3]]},
    {"id": 3, "image_id": 397133, "category_id": 1, "iscrowd": 0, "area": 4.0,
     "bbox": [4, 4, 2, 2], "segmentation": [[4, 4, 6, 4, 6, 6]]},
    {"id": 4, "image_id": 7, "category_id": 3, "iscrowd": 1, "area": 900.0,
     "bbox": [0, 0, 30, 30], "segmentation": {"counts": [0, 900], "size": [480, 640]}},
    {"id": 5, "image_id": 12, "category_id": 3, "iscrowd": 0, "area": 8.0,
     "bbox": [2, 2, 4, 2], "segmentation": [[2, 2, 6, 2, 6, 4]]}
  ],
  "categories": [
    {"supercategory": "indoor", "id": 90, "name": "toothbrush"},
    {"supercategory": "person", "id": 1, "name": "person"},
    {"supercategory": "vehicle", "id": 3, "name": "car"}
  ]
}"""


@pytest.fixture
def instances(tmp_path):
    path = tmp_path / "instances_val2017.json"
    path.write_text(INSTANCES)
    return path


def test_defaults_keep_every_image_count_crowd_and_order_classes_by_id(instances):
    labels, inputs = read_coco(instances)
    assert labels.classes == ("person", "car", "toothbrush")
    assert labels.ids == ("397133", "7", "9", "12")
    expected = [[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 1, 0]]
    assert labels.to_dense().tolist() == expected
    assert inputs[0] == {"id": "397133", "path": "000000397133.jpg"}


def test_crowd_and_empty_options(instances):
    labels, _ = read_coco(instances, count_crowd=False)
    assert labels.to_dense().tolist()[1] == [0, 0, 0]
    labels, _ = read_coco(instances, count_crowd=False, keep_empty=False)
    assert labels.ids == ("397133", "12")
    labels, _ = read_coco(instances, keep_empty=False)
    assert labels.ids == ("397133", "7", "12")


def test_preset_template_and_registered_variants(instances):
    labels, inputs = SOURCE_READERS["coco"](instances, "train2017/{id:0>12}.jpg")
    assert [x["path"] for x in inputs][:2] == [
        "train2017/000000397133.jpg",
        "train2017/000000000007.jpg",
    ]
    labels, _ = SOURCE_READERS["coco-nonempty"](instances, "{file_name}")
    assert labels.n_samples == 3


def _edit(instances, change):
    data = json.loads(instances.read_text())
    change(data)
    instances.write_text(json.dumps(data))
    return instances


def test_missing_and_truncated_file(tmp_path, instances):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_coco(tmp_path / "nope.json")
    instances.write_text(INSTANCES[:700])
    with pytest.raises(SourceError, match=r"instances_val2017.json: invalid JSON at line \d+"):
        read_coco(instances)


def test_unknown_category_names_the_annotation(instances):
    _edit(instances, lambda d: d["annotations"][2].update(category_id=91))
    with pytest.raises(SourceError, match=r"annotations\[2\]\.category_id: unknown category 91"):
        read_coco(instances)


def test_unknown_image_and_duplicated_image_id(instances):
    _edit(instances, lambda d: d["annotations"][0].update(image_id=5))
    with pytest.raises(SourceError, match=r"annotations\[0\]\.image_id: 5 is not an id"):
        read_coco(instances)
    _edit(instances, lambda d: d["images"][3].update(id=7))
    with pytest.raises(SourceError, match=r"images\[3\]\.id: duplicated image id 7"):
        read_coco(instances)


def test_duplicated_category_id(instances):
    _edit(instances, lambda d: d["categories"][2].update(id=1))
    with pytest.raises(SourceError, match=r"categories\[2\]\.id: category id 1 repeats"):
        read_coco(instances)


@pytest.mark.parametrize("bad", ["../../etc/passwd.jpg", "/abs/x.jpg", "a/../../x.jpg"])
def test_image_path_escaping_the_root(instances, bad):
    _edit(instances, lambda d: d["images"][1].update(file_name=bad))
    with pytest.raises(SourceError, match=r"images\[1\]\.file_name"):
        read_coco(instances)


def test_missing_top_level_key(instances):
    _edit(instances, lambda d: d.pop("categories"))
    with pytest.raises(SourceError, match="'categories' missing"):
        read_coco(instances)


def test_against_a_slow_count_on_random_annotations(tmp_path):
    rng = np.random.default_rng(0)
    cat_ids = [1, 2, 5, 11, 44, 90]
    images = [{"id": int(i), "file_name": f"{i}.jpg"} for i in rng.permutation(1000)[:60]]
    anns = []
    for k in range(300):
        anns.append(
            {
                "id": k,
                "image_id": images[int(rng.integers(60))]["id"],
                "category_id": cat_ids[int(rng.integers(6))],
                "iscrowd": int(rng.random() < 0.2),
            }
        )
    path = tmp_path / "i.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [
        {"id": c, "name": f"c{c}"} for c in reversed(cat_ids)]}))  # fmt: skip
    labels, _ = read_coco(path, count_crowd=False, keep_empty=False)
    expected = {}
    for a in anns:
        if not a["iscrowd"]:
            expected.setdefault(str(a["image_id"]), set()).add(f"c{a['category_id']}")
    kept = [str(im["id"]) for im in images if str(im["id"]) in expected]
    assert list(labels.ids) == kept
    dense = labels.to_dense()
    for r, i in enumerate(kept):
        assert {labels.classes[c] for c in np.flatnonzero(dense[r])} == expected[i]
