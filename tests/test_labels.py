"""LabelSet, encodings and groups, checked against plain dense NumPy computations."""

import numpy as np
import pytest

from palt.labels import (
    GroupRule,
    LabelError,
    LabelSet,
    from_assume_negative,
    from_name_lists,
    from_single_positive,
    from_voc,
    to_assume_negative,
    to_name_lists,
    to_single_positive,
    to_voc,
)


@pytest.fixture
def dense():
    rng = np.random.default_rng(0)
    return rng.choice([1, 0, -1], size=(60, 9), p=[0.2, 0.5, 0.3]).astype(np.int8)


@pytest.mark.parametrize("sparse", [False, True])
def test_statistics_match_dense_counts(dense, sparse):
    labels = LabelSet.from_dense(dense)
    if sparse:
        labels = labels.to_sparse()
    assert labels.is_sparse is sparse
    np.testing.assert_array_equal(labels.positive_counts(), (dense == 1).sum(0))
    np.testing.assert_array_equal(labels.negative_counts(), (dense == 0).sum(0))
    np.testing.assert_array_equal(labels.unknown_counts(), (dense == -1).sum(0))
    y = (dense == 1).astype(np.int64)
    np.testing.assert_array_equal(labels.cooccurrence(), y.T @ y)
    cond = labels.conditional_cooccurrence()
    for i in range(dense.shape[1]):
        for j in range(dense.shape[1]):
            rows = dense[:, i] == 1
            expected = (dense[rows, j] == 1).mean() if rows.any() else 0.0
            assert cond[i, j] == pytest.approx(expected)
    assert labels.cardinality() == pytest.approx((dense == 1).sum(1).mean())
    assert labels.annotated_fraction() == pytest.approx((dense != -1).mean())


def test_sparse_and_dense_views_agree(dense):
    labels = LabelSet.from_dense(dense).to_sparse()
    np.testing.assert_array_equal(labels.to_dense(), dense)
    np.testing.assert_array_equal(labels.rows([5, 2, 5]), dense[[5, 2, 5]])
    np.testing.assert_array_equal(labels.subset([7, 0, 3]).to_dense(), dense[[7, 0, 3]])
    np.testing.assert_array_equal(labels.select_classes([4, 1]).to_dense(), dense[:, [4, 1]])
    for c in range(dense.shape[1]):
        pos, neg = labels.column_entries(c)
        np.testing.assert_array_equal(pos, np.flatnonzero(dense[:, c] == 1))
        np.testing.assert_array_equal(neg, np.flatnonzero(dense[:, c] == 0))


def test_unlisted_negative_never_lists_negatives():
    labels = LabelSet.from_lists([[0, 2], [1], []], classes=["a", "b", "c"], unlisted="negative")
    np.testing.assert_array_equal(labels.to_dense(), [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(labels.negative_counts(), [2, 2, 2])
    pos, neg = labels.column_entries(0)
    assert pos.tolist() == [0] and neg is None


def test_concatenate_and_roundtrip(tmp_path, dense):
    a = LabelSet.from_dense(dense[:30], ids=[f"a{i}" for i in range(30)])
    b = LabelSet.from_dense(dense[30:], ids=[f"b{i}" for i in range(30)])
    both = LabelSet.concatenate([a.to_sparse(), b])
    np.testing.assert_array_equal(both.to_dense(), dense)
    for labels in (both, both.to_dense_set()):
        labels.save(tmp_path / "lab")
        again = LabelSet.load(tmp_path / "lab.npz")
        assert again == labels and again.is_sparse == labels.is_sparse


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LabelSet.from_dense(np.array([[1, 2]])), "row 0, column 1"),
        (lambda: LabelSet.from_dense(np.zeros(3)), "2-D"),
        (lambda: LabelSet.from_dense(np.zeros((2, 2)), classes=["a", "a"]), "duplicate"),
        (lambda: LabelSet.from_dense(np.zeros((2, 2)), ids=["x"]), "1 names for 2"),
        (lambda: LabelSet.from_lists([[0, 5]], classes=3), "out of range"),
        (lambda: LabelSet.from_lists([[0]], [[0]], classes=3), "positive and negative"),
        (lambda: LabelSet.from_lists([[1, 1]], classes=3), "listed twice"),
    ],
)
def test_bad_input_is_named(make, message):
    with pytest.raises(LabelError, match=message):
        make()


def test_load_rejects_bad_files(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "palt.labelset", "storage": "dense",')
    with pytest.raises(ValueError, match="x.json: invalid JSON at line 1"):
        LabelSet.load(tmp_path / "x")
    (tmp_path / "y.json").write_text(
        '{"format": "other", "storage": "dense", "classes": [], "ids": []}'
    )
    with pytest.raises(LabelError, match="expected 'palt.labelset'"):
        LabelSet.load(tmp_path / "y")


def test_encodings():
    sp = np.array([[1, -1, 0], [0, 0, 1]])
    labels = from_single_positive(sp)
    np.testing.assert_array_equal(labels.to_dense(), [[1, 0, -1], [-1, -1, 1]])
    np.testing.assert_array_equal(to_single_positive(labels), sp)
    np.testing.assert_array_equal(to_voc(from_voc(np.array([[1, 0, -1]]))), [[1, 0, -1]])
    voc = np.array([[1, 0, -1]])
    assert from_voc(voc, "ignore").to_dense().tolist() == [[1, -1, 0]]
    assert from_voc(voc, "positive").to_dense().tolist() == [[1, 1, 0]]
    assert from_voc(voc, "negative").to_dense().tolist() == [[1, 0, 0]]
    an = from_assume_negative(np.array([[0, 1]]))
    assert an.to_dense().tolist() == [[0, 1]]
    assert to_assume_negative(labels).tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(LabelError, match="expected one of"):
        from_assume_negative(np.array([[-1, 1]]))
    named = from_name_lists([["b"], ["a", "c"]], [["a"], []], classes=["a", "b", "c"])
    assert named.to_dense().tolist() == [[0, 1, -1], [1, -1, 1]]
    assert to_name_lists(named) == ([["b"], ["a", "c"]], [["a"], []])
    with pytest.raises(LabelError, match="unknown class name 'z'"):
        from_name_lists([["z"]], classes=["a"])


def test_group_rule_boundaries():
    counts = np.array([100, 99, 20, 19, 0, 250])
    assert GroupRule().assign(counts).tolist() == [
        "head",
        "medium",
        "medium",
        "tail",
        "tail",
        "head",
    ]
    strict = GroupRule(head_inclusive=False, tail_inclusive=True)
    assert strict.assign(counts).tolist() == ["medium", "medium", "tail", "tail", "tail", "head"]
    assert GroupRule().groups(counts) == {"head": [0, 5], "medium": [1, 2], "tail": [3, 4]}
    assert GroupRule.from_dict(GroupRule(50, 5).to_dict()) == GroupRule(50, 5)
    with pytest.raises(ValueError, match="tail_max"):
        GroupRule(head_min=10, tail_max=20)


def test_sparse_cooccurrence_equals_dense(dense):
    y = (dense == 1).astype(np.int64)
    for labels in (LabelSet.from_dense(dense), LabelSet.from_dense(dense).to_sparse()):
        np.testing.assert_array_equal(labels.cooccurrence(sparse=True).toarray(), y.T @ y)
        indptr, indices = labels.positive_csr()
        assert indices.tolist() == np.nonzero(dense == 1)[1].tolist()
        assert np.diff(indptr).tolist() == (dense == 1).sum(1).tolist()
