"""Per-class AP over annotated entries, checked against scikit-learn and slow loops from the formulas."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from palt.labels import LabelSet
from palt.metrics import MetricInputError, SparseScores, average_precision


def random_case(seed, n=300, c=6, levels=5, p_unknown=0.3, dtype=np.float32):
    """Scores on a coarse grid (heavy ties) and labels with unknowns."""
    rng = np.random.default_rng(seed)
    targets = rng.choice([1, 0, -1], size=(n, c), p=[0.25, 1 - 0.25 - p_unknown, p_unknown])
    scores = rng.integers(0, levels, size=(n, c)) + 0.7 * (targets == 1)
    return scores.astype(dtype), targets.astype(np.int8)


def sklearn_per_class(scores, targets):
    out = []
    for c in range(targets.shape[1]):
        known = targets[:, c] >= 0
        y, s = targets[known, c], scores[known, c]
        out.append(average_precision_score(y, s) if 0 < sum(y) < len(y) else np.nan)
    return np.array(out)


# ---------------------------------------------------------------- slow loops from the formulas
def grouped_curve(s, y):
    """(recall, precision) at each distinct threshold, descending, by explicit counting."""
    n_pos = sum(1 for v in y if v == 1)
    points = []
    for t in sorted(set(s.tolist()), reverse=True):
        tp = sum(1 for si, yi in zip(s, y, strict=True) if si >= t and yi == 1)
        k = sum(1 for si in s if si >= t)
        points.append((Fraction(tp, n_pos), Fraction(tp, k)))
    return points


def slow_voc(s, y):
    """py-faster-rcnn ``voc_ap(use_07_metric=False)`` on the tie-grouped curve."""
    pts = grouped_curve(s, y)
    mrec = [Fraction(0)] + [r for r, _ in pts] + [Fraction(1)]
    mpre = [Fraction(0)] + [p for _, p in pts] + [Fraction(0)]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return float(sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1)))


def slow_voc07(s, y):
    pts = grouped_curve(s, y)
    total = Fraction(0)
    for k in range(11):
        reach = [p for r, p in pts if r >= Fraction(k, 10)]
        total += max(reach) if reach else 0
    return float(total / 11)


def slow_asl(s, y):
    """Rank by score descending, ties: larger sample index first; mean precision at positives."""
    order = sorted(range(len(s)), key=lambda i: (-s[i], -i))
    hits, total = 0, Fraction(0)
    for rank, i in enumerate(order, start=1):
        if y[i] == 1:
            hits += 1
            total += Fraction(hits, rank)
    return float(total / hits)


SLOW = {"voc": slow_voc, "voc07": slow_voc07, "asl": slow_asl}


def slow_per_class(scores, targets, convention):
    out = []
    for c in range(targets.shape[1]):
        known = targets[:, c] >= 0
        y, s = targets[known, c], scores[known, c]
        y = [int(v) for v in y]
        out.append(SLOW[convention](s, y) if 0 < sum(y) < len(y) else np.nan)
    return np.array(out)


# ---------------------------------------------------------------- tests
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 80),
    levels=st.sampled_from([1, 2, 3, 10, 1000]),
    p_unknown=st.sampled_from([0.0, 0.3, 0.7]),
)
def test_matches_sklearn_on_annotated_entries(seed, n, levels, p_unknown):
    scores, targets = random_case(seed, n=n, c=5, levels=levels, p_unknown=p_unknown)
    got = average_precision(scores, targets)
    want = sklearn_per_class(scores, targets)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.max(np.abs(got[ok] - want[ok]), initial=0) < 1e-12


def test_matches_sklearn_float64_and_large():
    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=(5000, 12)), 2)  # float64, many ties
    targets = rng.choice([1, 0, -1], size=(5000, 12), p=[0.1, 0.6, 0.3])
    got = average_precision(scores, targets)
    assert np.max(np.abs(got - sklearn_per_class(scores, targets))) < 1e-12


@pytest.mark.parametrize("convention", ["voc", "voc07", "asl"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conventions_match_slow_loops(convention, seed):
    scores, targets = random_case(seed, n=120, c=5, levels=4)
    got = average_precision(scores, targets, convention=convention)
    want = slow_per_class(scores, targets, convention)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("convention", ["voc", "voc07", "asl"])
def test_conventions_without_ties_untied_relations(convention):
    """No ties: asl equals sklearn; voc ≥ sklearn."""
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(400, 4))
    targets = rng.choice([1, 0, -1], size=(400, 4), p=[0.3, 0.5, 0.2])
    base = average_precision(scores, targets)
    got = average_precision(scores, targets, convention=convention)
    if convention == "asl":
        np.testing.assert_allclose(got, base, atol=1e-12)
    elif convention == "voc":
        assert np.all(got >= base - 1e-12)
    np.testing.assert_allclose(got, slow_per_class(scores, targets, convention), atol=1e-12)


def test_worked_example():
    # ranked: 0.9(+) 0.8(-) 0.8(+) 0.5(-) 0.3(+), unknown 1.0 ignored
    s = np.array([[0.9], [0.8], [0.8], [0.5], [0.3], [1.0]])
    y = np.array([[1], [0], [1], [0], [1], [-1]])
    # sklearn: (1/3)(1/1 + 2/3 + 3/5)
    assert average_precision(s, y)[0] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3, abs=1e-15)
    # asl: tie 0.8 ranks row 2 (+) before row 1 (-): (1/3)(1 + 2/2 + 3/5)
    assert average_precision(s, y, convention="asl")[0] == pytest.approx((1 + 1 + 0.6) / 3)
    # voc: envelope 1, 2/3, 3/5 -> same as sklearn here
    assert average_precision(s, y, convention="voc")[0] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # voc07: recall 1/3 at p=1, 2/3 at p=2/3, 1 at p=3/5
    want = (4 * 1 + 3 * (2 / 3) + 4 * 0.6) / 11
    assert average_precision(s, y, convention="voc07")[0] == pytest.approx(want)


def test_degenerate_classes_are_nan():
    s = np.arange(12, dtype=np.float32).reshape(4, 3)
    t = np.array([[1, -1, 0], [1, -1, 0], [0, -1, 0], [1, -1, 0]])
    ap = average_precision(s, t)
    assert not np.isnan(ap[0]) and np.isnan(ap[1]) and np.isnan(ap[2])
    only_pos = average_precision(s[:, :1], np.ones((4, 1)))
    assert np.isnan(only_pos[0])


def test_sparse_labels_and_sparse_scores_equal_dense():
    scores, targets = random_case(11, n=200, c=7, levels=6, p_unknown=0.6)
    dense = average_precision(scores, targets)
    labels = LabelSet.from_dense(targets).to_sparse()
    np.testing.assert_array_equal(average_precision(scores, labels), dense)
    rows, cols = np.nonzero(targets >= 0)
    rng = np.random.default_rng(0)
    extra = np.flatnonzero(targets.ravel() < 0)[:10]  # scores at unknown entries are ignored
    rows = np.concatenate([rows, extra // 7])
    cols = np.concatenate([cols, extra % 7])
    perm = rng.permutation(len(rows))
    sparse = SparseScores(rows[perm], cols[perm], scores[rows, cols][perm], scores.shape)
    for conv in ("sklearn", "asl", "voc", "voc07"):
        np.testing.assert_array_equal(
            average_precision(sparse, labels, convention=conv),
            average_precision(scores, targets, convention=conv),
        )


def test_torch_inputs_and_half_precision():
    torch = pytest.importorskip("torch")
    scores, targets = random_case(2, n=100, c=4)
    want = average_precision(scores, targets)
    got = average_precision(torch.from_numpy(scores), torch.from_numpy(targets).float())
    np.testing.assert_array_equal(got, want)
    half = average_precision(torch.from_numpy(scores).half(), torch.from_numpy(targets))
    np.testing.assert_allclose(half, want)  # grid values are exact in fp16


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_an_error(bad):
    s = np.zeros((5, 3), np.float32)
    s[2, 1] = bad
    with pytest.raises(MetricInputError, match=r"non-finite.*row 2, class 1"):
        average_precision(s, np.zeros((5, 3)))


def test_bad_inputs_are_clear_errors():
    with pytest.raises(MetricInputError, match="value 2 at row 1, class 0"):
        average_precision(np.zeros((3, 2)), np.array([[1, 0], [2, 0], [0, 0]]))
    with pytest.raises(MetricInputError, match="shape"):
        average_precision(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(MetricInputError, match="floating-point"):
        average_precision(np.zeros((3, 2), int), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="convention"):
        average_precision(np.zeros((3, 2)), np.zeros((3, 2)), convention="coco")


def test_sparse_scores_validation():
    labels = LabelSet.from_lists([[0], [1]], [[1], []], classes=2)
    with pytest.raises(
        MetricInputError, match=r"no score for the annotated entry \(row 0, class 1"
    ):
        average_precision(SparseScores([0, 1], [0, 1], [0.5, 0.2], (2, 2)), labels)
    with pytest.raises(MetricInputError, match="more than once"):
        SparseScores([0, 0], [1, 1], [0.5, 0.2], (2, 2))
    with pytest.raises(MetricInputError, match="out of range"):
        SparseScores([0], [2], [0.5], (2, 2))
    with pytest.raises(MetricInputError, match="non-finite"):
        SparseScores([0], [1], [np.nan], (2, 2))
    with pytest.raises(MetricInputError, match="sparse LabelSet"):
        average_precision(SparseScores([0], [1], [0.1], (2, 2)), np.zeros((2, 2)))


def test_blocks_of_classes_and_rows(monkeypatch):
    """Small blocks (uneven last block) give the same result as one block."""
    import palt.metrics.columns as columns

    scores, targets = random_case(4, n=50, c=7, levels=3)
    want = average_precision(scores, targets)
    monkeypatch.setattr(columns, "BLOCK_ENTRIES", 150)  # 3 classes per block: 3 + 3 + 1
    monkeypatch.setattr(columns, "LABEL_BLOCK", 2)
    np.testing.assert_array_equal(average_precision(scores, targets), want)
    labels = LabelSet.from_dense(targets).to_sparse()
    np.testing.assert_array_equal(average_precision(scores, labels), want)
    from palt.metrics import evaluate

    np.testing.assert_equal(
        evaluate(scores, targets, top_k=2).summary(),
        evaluate(scores, targets, top_k=2, workers=1).summary(),
    )
