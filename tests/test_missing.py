"""Missing-label schemes checked against counts computed independently from the full labels."""

import numpy as np
import pytest

from palt.data.missing import (
    drop_positives,
    fix_per_class,
    positives_left,
    random_per_sample,
    simulate,
    single_positive,
)
from palt.labels import LabelSet


def _full(n=3000, c=12, seed=0, with_unknown=False):
    rng = np.random.default_rng(seed)
    p = np.geomspace(0.5, 0.01, c)
    dense = (rng.random((n, c)) < p).astype(np.int8)
    if with_unknown:
        dense[rng.random((n, c)) < 0.1] = -1
    return LabelSet.from_dense(dense, [f"k{j}" for j in range(c)])


def _entries_agree(observed, full):
    """Every annotated observed entry equals the full label."""
    o, f = observed.to_dense(), full.to_dense()
    known = o != -1
    return bool(np.all(o[known] == f[known]))


def test_drop_positives_counts_and_guarantee():
    full = _full()
    rate = 0.4
    obs = drop_positives(full, rate, seed=0)
    o, f = obs.to_dense(), full.to_dense()
    assert obs.ids == full.ids and obs.classes == full.classes
    assert np.all(o[o == 1] == f[o == 1]) and not np.any(o == 0)  # positives only, rest unknown
    k = (f == 1).sum(1)
    kept = (o == 1).sum(1)
    assert np.all(kept[k > 0] >= 1) and np.all(kept[k == 0] == 0)
    # E[kept | k] = k(1 − ρ) + ρ^k (a fully dropped image gets one positive back)
    expected = float(np.sum(k * (1 - rate) + np.where(k > 0, rate**k, 0.0)))
    sd = float(np.sqrt(np.sum(k * rate * (1 - rate))))
    assert abs(kept.sum() - expected) < 4 * sd
    assert obs == drop_positives(full, rate, seed=0)
    assert obs != drop_positives(full, rate, seed=1)


def test_positives_left_has_no_guarantee_and_keeps_the_fraction():
    full = _full(n=5000)
    obs = positives_left(full, 0.75, seed=3)
    total, kept = full.positive_counts().sum(), obs.positive_counts().sum()
    assert abs(kept / total - 0.75) < 4 * np.sqrt(0.75 * 0.25 / total)
    f, o = full.to_dense(), obs.to_dense()
    lost_all = ((f == 1).sum(1) > 0) & ((o == 1).sum(1) == 0)
    assert lost_all.any()  # 1/4 of single-label images lose their label
    assert _entries_agree(obs, full)


def test_single_positive_one_uniform_positive_per_image():
    full = _full(n=4000)
    obs = single_positive(full, seed=0)
    f, o = full.to_dense(), obs.to_dense()
    k = (f == 1).sum(1)
    assert np.array_equal((o == 1).sum(1), np.minimum(k, 1))
    assert _entries_agree(obs, full) and not np.any(o == 0)
    two = np.flatnonzero(k == 2)
    first = [np.flatnonzero(f[r] == 1)[0] == np.flatnonzero(o[r] == 1)[0] for r in two]
    assert abs(np.mean(first) - 0.5) < 4 * np.sqrt(0.25 / len(two))


@pytest.mark.parametrize("with_unknown", [False, True])
def test_fix_per_class_exact_numbers(with_unknown):
    full = _full(n=800, with_unknown=with_unknown)
    n_fixed = 40
    obs = fix_per_class(full, n_fixed, seed=0)
    f, o = full.to_dense(), obs.to_dense()
    for c in range(full.n_classes):
        assert (o[:, c] == 1).sum() == min(n_fixed, (f[:, c] == 1).sum())
        assert (o[:, c] == 0).sum() == min(n_fixed, (f[:, c] == 0).sum())
    assert _entries_agree(obs, full)
    assert obs == fix_per_class(full, n_fixed, seed=0)


def test_fix_per_class_on_sparse_implied_negatives():
    full = _full(n=500)
    sparse = full.to_sparse("negative")
    a, b = fix_per_class(full, 30, seed=2), fix_per_class(sparse, 30, seed=2)
    assert a == b


@pytest.mark.parametrize("with_unknown", [False, True])
def test_random_per_sample_rate(with_unknown):
    full = _full(n=5000, with_unknown=with_unknown)
    p = 0.5
    obs = random_per_sample(full, p, seed=0)
    f, o = full.to_dense(), obs.to_dense()
    annotated = f != -1
    assert np.all(o[~annotated] == -1)  # unknown stays unknown
    assert _entries_agree(obs, full)
    hidden = (o == -1) & annotated
    m = annotated.sum()
    assert abs(hidden.sum() / m - p) < 4 * np.sqrt(p * (1 - p) / m)
    assert obs == random_per_sample(full.to_sparse("unknown"), p, seed=0)


def test_simulate_dispatch_and_errors():
    full = _full(n=200)
    assert simulate(full, "drop-positives", None, 0) == drop_positives(full, 0.4, 0)
    assert simulate(full, "fix-per-class", 10, 1) == fix_per_class(full, 10, 1)
    with pytest.raises(ValueError, match="unknown missing-label scheme 'nope'"):
        simulate(full, "nope")
    with pytest.raises(ValueError, match="takes no rate"):
        simulate(full, "single-positive", 0.3)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        drop_positives(full, 1.5)
    with pytest.raises(ValueError, match="n_fixed must be an integer"):
        simulate(full, "fix-per-class", 2.5)
