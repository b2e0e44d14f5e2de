"""Long-tail sampler: the published VOC-MLT list, PLT-VOC size, and an independent re-computation."""

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from palt.data.labelcsv import read_label_csv
from palt.data.longtail import pareto_reference_counts, rank_classes, select_longtail
from palt.labels import GroupRule, LabelSet

APPENDIX = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "db-appendix"


@pytest.fixture(scope="module")
def voc():
    path = APPENDIX / "voc2012_trainval_labels.csv"
    if not path.is_file():
        pytest.skip(f"{APPENDIX} not available")
    labels, _ = read_label_csv(path)
    return labels


# ---------------------------------------------------------------------- published lists
def test_reference_counts_b6_max800_match_readme():
    expected = [800, 529, 359, 248, 175, 125, 91, 67, 50, 38, 29, 23, 18, 14, 11, 9, 7, 6, 5, 4]
    assert pareto_reference_counts(20, 6, 800, 1).tolist() == expected


def test_voc_class_ranking_matches_readme(voc):
    expected = [
        "person",
        "chair",
        "car",
        "diningtable",
        "bottle",
        "pottedplant",
        "sofa",
        "tvmonitor",
        "dog",
        "bicycle",
        "cat",
        "motorbike",
        "bus",
        "boat",
        "horse",
        "bird",
        "train",
        "aeroplane",
        "sheep",
        "cow",
    ]
    assert [voc.classes[c] for c in rank_classes(voc)] == expected


def test_voc_mlt_selects_the_published_ids_in_order(voc):
    rows = select_longtail(voc, pareto_reference_counts(20, 6, 800, 1), random.Random(0))
    published = (APPENDIX / "voc_mlt_img_ids.txt").read_text().split()
    assert [voc.ids[r] for r in rows] == published


def test_voc_mlt_labels_and_class_split(voc):
    rows = select_longtail(voc, pareto_reference_counts(20, 6, 800, 1), random.Random(0))
    with open(APPENDIX / "voc_mlt_labels.csv", newline="") as f:
        table = list(csv.reader(f))
    expected = np.array([[int(v) for v in r[1:]] for r in table[1:]])
    assert [r[0] for r in table[1:]] == [voc.ids[r] for r in rows]
    np.testing.assert_array_equal(voc.subset(rows).to_dense(), expected)
    split = json.loads((APPENDIX / "voc_mlt_class_split.json").read_text())
    groups = GroupRule().groups(voc.subset(rows).positive_counts())
    assert groups == {"head": split["head"], "medium": split["middle"], "tail": split["tail"]}


def test_plt_voc_and_comic_voc_variant_sizes(voc):
    plt_voc = select_longtail(voc, pareto_reference_counts(20, 12, 1400, 1), random.Random(0))
    assert len(plt_voc) == 2569
    counts = voc.subset(plt_voc).positive_counts()
    assert (counts.max(), counts.min()) == (1585, 10)
    variant = select_longtail(voc, pareto_reference_counts(20, 10, 1600, 1), random.Random(0))
    assert len(variant) == 2830


# ---------------------------------------------------------------------- independent checks
def test_reference_counts_follow_the_pareto_formula():
    # pareto(b): pdf(x) = b / x^(b+1) on x ≥ 1, ppf(q) = (1 − q)^(−1/b)
    b, hi, lo, c = 10.0, 1400, 1, 80
    x = np.linspace(1.0, 0.01 ** (-1 / b), c)
    expected = [int(b / v ** (b + 1) * (hi - lo) / b + lo) for v in x]
    got = pareto_reference_counts(c, b, hi, lo)
    assert got.tolist() == expected
    assert got[0] == hi and got[1] == 1290 and got[-1] == 9  # comic.md §2.2 example


@pytest.mark.parametrize("b", [2, 4.5, 6, 8, 10, 12])
@pytest.mark.parametrize("c", [20, 80, 600])
def test_reference_counts_equal_scipy_pareto(b, c):
    from scipy.stats import pareto

    for hi, lo in ((800, 1), (1200, 1), (1400, 1), (1600, 3)):
        dist = pareto(b)
        x = np.linspace(dist.ppf(0), dist.ppf(0.99), c)
        expected = (dist.pdf(x) * (hi - lo) / b + lo).astype(np.int64)
        np.testing.assert_array_equal(pareto_reference_counts(c, b, hi, lo), expected)


def _slow_greedy(matrix, reference, seed, cap):
    """Straight transcription of the protocol on lists (independent of the LabelSet code)."""
    n, c = len(matrix), len(matrix[0])
    cond = []
    for i in range(c):
        rows_i = [r for r in range(n) if matrix[r][i]]
        cond.append([sum(matrix[r][j] for r in rows_i) / len(rows_i) if rows_i else 0.0
                     for j in range(c)])  # fmt: skip
    scores = np.array([sum(cond[i][j] for i in range(c)) for j in range(c)])
    order = np.argsort(-scores)
    rng = random.Random(seed)
    chosen, per_class, count = set(), [set() for _ in range(c)], [0.0] * c
    for k, cls in enumerate(order):
        need = int(reference[k] - count[cls])
        if need > 0:
            pool = set([r for r in range(n) if matrix[r][cls]]) - per_class[cls]
            picks = rng.sample(tuple(pool), min(need, len(pool)) if cap else need)
            sign = 1
        elif need < 0:
            picks = rng.sample(tuple(per_class[cls]), -need)
            sign = -1
        else:
            continue
        for r in picks:
            (chosen.add if sign > 0 else chosen.remove)(r)
            for j in range(c):
                if matrix[r][j]:
                    (per_class[j].add if sign > 0 else per_class[j].remove)(r)
                    count[j] += sign
    return list(chosen)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_selection_equals_slow_transcription(seed):
    rng = np.random.default_rng(seed)
    p = np.linspace(0.5, 0.03, 8)
    matrix = (rng.random((400, 8)) < p).astype(np.int8)
    matrix[matrix.sum(1) == 0, 0] = 1
    labels = LabelSet.from_dense(matrix)
    ref = pareto_reference_counts(8, 4, 120, 2)
    got = select_longtail(labels, ref, random.Random(seed), cap_to_available=True)
    assert got == _slow_greedy(matrix.tolist(), ref, seed, cap=True)
    counts = matrix[got].sum(0)
    last = rank_classes(labels)[-1]
    assert counts[last] == min(ref[-1], matrix[:, last].sum())  # the last class hits its target


def test_sparse_and_dense_labels_select_the_same_rows():
    rng = np.random.default_rng(5)
    matrix = (rng.random((300, 6)) < np.linspace(0.4, 0.05, 6)).astype(np.int8)
    dense = LabelSet.from_dense(matrix)
    ref = pareto_reference_counts(6, 4, 80, 2)
    a = select_longtail(dense, ref, random.Random(0), cap_to_available=True)
    b = select_longtail(dense.to_sparse("negative"), ref, random.Random(0), cap_to_available=True)
    assert a == b


def test_target_above_available_needs_the_cap():
    labels = LabelSet.from_dense(np.eye(3, dtype=np.int8).repeat(5, axis=0), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"needs \d+ more images but only 5 are left"):
        select_longtail(labels, [10, 4, 2], random.Random(0))
    rows = select_longtail(labels, [10, 4, 2], random.Random(0), cap_to_available=True)
    assert len(rows) == 5 + 4 + 2


def test_reference_count_arguments_are_checked():
    with pytest.raises(ValueError, match="min_count ≤ max_count"):
        pareto_reference_counts(5, 6, 10, 20)
    with pytest.raises(ValueError, match="b must be > 0"):
        pareto_reference_counts(5, 0, 10, 1)
