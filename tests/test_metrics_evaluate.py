"""evaluate(): summary numbers, thresholded metrics, groups and exclusions, against sklearn/loops."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from palt.labels import LabelSet
from palt.metrics import SparseScores, average_precision, evaluate


@pytest.fixture
def case():
    rng = np.random.default_rng(7)
    n, c = 400, 8
    targets = rng.choice([1, 0, -1], size=(n, c), p=[0.2, 0.5, 0.3]).astype(np.int8)
    targets[:, 6] = np.where(targets[:, 6] == 1, 0, targets[:, 6])  # no positive
    targets[:, 7] = -1  # nothing annotated
    scores = (rng.normal(size=(n, c)) + 1.5 * (targets == 1)).astype(np.float32)
    return scores, targets


def test_summary_against_sklearn(case):
    scores, targets = case
    res = evaluate(scores, targets, threshold=0.5)
    s = res.summary()
    ap = average_precision(scores, targets)
    ev = ~np.isnan(ap)
    assert s["mAP"] == pytest.approx(np.mean(ap[ev]), abs=1e-15)
    npos = (targets == 1).sum(0)
    assert s["mAP_weighted"] == pytest.approx(np.sum(ap[ev] * npos[ev]) / npos[ev].sum())
    known = targets.ravel() >= 0
    assert s["micro_AP"] == pytest.approx(
        average_precision_score(targets.ravel()[known], scores.ravel()[known]), abs=1e-12
    )
    p, r, f = [], [], []
    for c in np.flatnonzero(ev):
        k = targets[:, c] >= 0
        y, pred = targets[k, c], scores[k, c] >= 0.5
        p.append(precision_score(y, pred, zero_division=0))
        r.append(recall_score(y, pred))
        f.append(f1_score(y, pred, zero_division=0))
    assert s["CP"] == pytest.approx(np.mean(p))
    assert s["CR"] == pytest.approx(np.mean(r))
    assert s["CF1_mean"] == pytest.approx(np.mean(f))
    cp, cr = np.mean(p), np.mean(r)
    assert s["CF1_of_means"] == pytest.approx(2 * cp * cr / (cp + cr))
    assert s["CF1_mean"] != pytest.approx(s["CF1_of_means"], abs=1e-6)
    y, pred = targets.ravel()[known], scores.ravel()[known] >= 0.5
    assert s["OP"] == pytest.approx(precision_score(y, pred))
    assert s["OR"] == pytest.approx(recall_score(y, pred))
    assert s["OF1"] == pytest.approx(f1_score(y, pred))
    assert s["n_classes_evaluated"] == 6 and s["n_classes_excluded"] == 2
    assert all(0 <= v <= 1 for k, v in s.items() if not k.startswith("n_"))


def test_exclusions_are_reported(case):
    scores, targets = case
    labels = LabelSet.from_dense(targets, classes=[f"c{i}" for i in range(8)])
    res = evaluate(scores, labels)
    assert res.excluded == ["c6", "c7"]
    assert res.exclusion_reasons == {"c6": "no annotated positive", "c7": "no annotated entry"}
    rows = res.per_class()
    assert rows[6]["excluded"] == "no annotated positive" and np.isnan(rows[6]["AP"])
    assert rows[0]["name"] == "c0" and rows[0]["excluded"] is None
    assert rows[7]["n_unknown"] == 400 and rows[0]["n_pos"] == int((targets[:, 0] == 1).sum())
    assert evaluate(scores, targets).excluded == [6, 7]


def test_groups(case):
    scores, targets = case
    ap = average_precision(scores, targets)
    res = evaluate(scores, targets, groups={"head": [0, 1, 2], "tail": [5, 6], "empty": [7]})
    s = res.summary()
    assert s["mAP_head"] == pytest.approx(ap[[0, 1, 2]].mean())
    assert s["mAP_tail"] == pytest.approx(ap[5])  # class 6 is excluded
    assert s["n_classes_tail"] == 1
    assert np.isnan(s["mAP_empty"])
    assert res.per_class()[5]["group"] == "tail"
    named = LabelSet.from_dense(targets, classes=list("abcdefgh"))
    by_name = evaluate(scores, named, groups={"head": ["a", "b", "c"]}).summary()
    assert by_name["mAP_head"] == s["mAP_head"]
    with pytest.raises(ValueError, match="unknown class name 'z'"):
        evaluate(scores, named, groups={"head": ["z"]})
    with pytest.raises(ValueError, match="out of range"):
        evaluate(scores, targets, groups={"head": [8]})
    with pytest.raises(ValueError, match="clash"):
        evaluate(scores, targets, groups={"weighted": [0]})


def test_top_k_against_loop(case):
    scores, targets = case
    k = 3
    res = evaluate(scores, targets, top_k=k)
    kth = np.sort(scores, axis=1)[:, -k][:, None]
    pred = scores >= kth
    known = targets >= 0
    tp = ((targets == 1) & pred & known).sum(0)
    fp = ((targets == 0) & pred & known).sum(0)
    fn = ((targets == 1) & ~pred).sum(0)
    np.testing.assert_array_equal(res.tp, tp)
    np.testing.assert_array_equal(res.fp, fp)
    np.testing.assert_array_equal(res.fn, fn)
    assert res.settings["top_k"] == 3 and res.settings["threshold"] is None


def test_sparse_and_dense_give_identical_results(case):
    scores, targets = case
    labels = LabelSet.from_dense(targets).to_sparse()
    rows, cols = np.nonzero(targets >= 0)
    sparse = SparseScores(rows, cols, scores[rows, cols], scores.shape)
    dense = evaluate(scores, targets, groups={"g": [0, 1]}, class_names=labels.classes)
    for s_in in (scores, sparse):
        got = evaluate(s_in, labels, groups={"g": [0, 1]})
        np.testing.assert_equal(got.summary(), dense.summary())
        assert got.per_class() == dense.per_class() or _same_rows(got, dense)
    topk = evaluate(scores, labels, top_k=2).summary()
    np.testing.assert_equal(topk, evaluate(scores, targets, top_k=2).summary())


def _same_rows(a, b):
    for x, y in zip(a.per_class(), b.per_class(), strict=True):
        np.testing.assert_equal(x, y)
    return True


def test_sparse_top_k_ranks_given_scores():
    # row 0 has scores for classes 0, 1, 2; top-1 is class 2 (an unknown entry)
    labels = LabelSet.from_lists([[0], [1]], [[1], [0]], classes=3)
    sparse = SparseScores([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], [0.5, 0.1, 0.9, 0.2, 0.3], (2, 3))
    res = evaluate(sparse, labels, top_k=1)
    np.testing.assert_array_equal(res.tp, [0, 1, 0])
    np.testing.assert_array_equal(res.fp, [0, 0, 0])


def test_unlisted_negative_labels_read_densely():
    labels = LabelSet.from_lists([[0], [1], [0, 1]], classes=2, unlisted="negative")
    scores = np.array([[2.0, -1.0], [0.0, 1.0], [1.0, 3.0]])
    want = average_precision(scores, labels.to_dense())
    np.testing.assert_array_equal(average_precision(scores, labels), want)


@pytest.mark.parametrize("top_k", [None, 2])
def test_thread_count_does_not_change_results(case, top_k):
    scores, targets = case
    one = evaluate(scores, targets, workers=1, top_k=top_k)
    three = evaluate(scores, targets, workers=3, top_k=top_k)
    np.testing.assert_equal(one.summary(), three.summary())
    np.testing.assert_array_equal(one.ap, three.ap)
    labels = LabelSet.from_dense(targets).to_sparse()
    np.testing.assert_array_equal(average_precision(scores, labels, workers=2), one.ap)
    with pytest.raises(ValueError, match="workers"):
        average_precision(scores, targets, workers=0)
