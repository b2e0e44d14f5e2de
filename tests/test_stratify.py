"""Iterative stratification: rare classes in every part, proportions, determinism, sparse input."""

import numpy as np
import pytest

from palt.data.stratify import iterative_stratification, stratified_split
from palt.labels import LabelSet


def _labels(n=3000, c=60, seed=0):
    rng = np.random.default_rng(seed)
    p = np.minimum(0.4, 2.0 / np.arange(1, c + 1) ** 1.2)  # long tail down to a few positives
    dense = (rng.random((n, c)) < p).astype(np.int8)
    return LabelSet.from_dense(dense)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_parts_rare_classes_everywhere_and_proportions(seed):
    labels = _labels(seed=seed)
    train, val = stratified_split(labels, [0.8, 0.2], seed=seed)
    d = labels.to_dense()
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(labels.n_samples))
    assert abs(len(val) / labels.n_samples - 0.2) < 0.02
    total, in_val = (d == 1).sum(0), (d[val] == 1).sum(0)
    both = (in_val > 0) & (total - in_val > 0)
    assert np.all(both[total >= 2])
    frequent = total >= 50
    assert np.all(np.abs(in_val[frequent] / total[frequent] - 0.2) < 0.05)


def test_three_parts_and_plain_random_split_is_worse():
    labels = _labels(n=4000, c=80, seed=7)
    parts = stratified_split(labels, [0.7, 0.1, 0.2], seed=0)
    d = labels.to_dense() == 1
    total = d.sum(0)
    per_part = np.stack([d[p].sum(0) for p in parts])
    assert np.all(per_part[:, total >= 3] > 0)
    dev = np.abs(per_part[2] / np.maximum(total, 1) - 0.2)[total >= 10].mean()
    rng = np.random.default_rng(0)
    test = rng.permutation(labels.n_samples)[: len(parts[2])]
    random_dev = np.abs(d[test].sum(0) / np.maximum(total, 1) - 0.2)[total >= 10].mean()
    assert dev < random_dev


def test_deterministic_by_seed_and_storage_independent():
    labels = _labels(n=1000)
    a = iterative_stratification(labels, [0.9, 0.1], seed=4)
    assert np.array_equal(a, iterative_stratification(labels, [0.9, 0.1], seed=4))
    assert not np.array_equal(a, iterative_stratification(labels, [0.9, 0.1], seed=5))
    sparse = labels.to_sparse("negative")
    assert np.array_equal(a, iterative_stratification(sparse, [0.9, 0.1], seed=4))


def test_unlabelled_samples_fill_remaining_demand():
    dense = np.zeros((100, 3), np.int8)
    dense[:10, 0] = 1
    parts = stratified_split(LabelSet.from_dense(dense), [0.5, 0.5], seed=0)
    assert [len(p) for p in parts] == [50, 50]
    assert all(np.isin(np.arange(10), p).sum() == 5 for p in parts)


def test_bad_fractions():
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split(_labels(n=50), [0.5, 0.3])
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split(_labels(n=50), [1.0])
