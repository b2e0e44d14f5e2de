"""ClassAwareSampler: epoch length, class balance of the draws, cyclic per-class lists,
determinism per (seed, epoch), sparse label sets, state round trip."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from palt.data.samplers import ClassAwareSampler
from palt.labels import LabelSet


def single_label(counts, seed=0):
    """One positive per row, class c on counts[c] rows (shuffled), every other entry negative."""
    rows = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(rows)
    dense = np.zeros((len(rows), len(counts)), np.int8)
    dense[np.arange(len(rows)), rows] = 1
    return LabelSet.from_dense(dense), rows


def test_epoch_length_formula():
    labels, _ = single_label([40, 7, 3, 1])
    assert len(ClassAwareSampler(labels)) == 40 * 4 // 4
    assert len(ClassAwareSampler(labels, reduce=3)) == 40 * 4 // 3
    assert len(list(ClassAwareSampler(labels, reduce=3))) == 53
    # spec §1.6: COCO-MLT 1128·80/4 = 22,560 draws per epoch
    counts = [1128] + [6] * 79
    dense = np.full((1128 + 6, 80), -1, np.int8)
    dense[:1128, 0] = 1
    for c in range(1, 80):
        dense[1128 + c % 6, c] = 1  # rare classes share 6 rows
    assert len(ClassAwareSampler(LabelSet.from_dense(dense))) == 1128 * 80 // 4
    assert max(counts) * 80 // 4 == 22_560


def test_draws_are_uniform_over_classes():
    counts = [300, 60, 12, 5, 2]
    labels, row_class = single_label(counts)
    sampler = ClassAwareSampler(labels, num_samples_cls=3, reduce=1)
    drawn = row_class[sampler.draw()]
    freq = np.bincount(drawn, minlength=5)
    # classes are visited in whole cycles of 3 draws each: counts differ by at most one visit
    assert freq.max() - freq.min() <= 3
    assert freq.sum() == 300 * 5


def test_draws_come_in_blocks_of_one_class():
    labels, row_class = single_label([30, 9, 4])
    drawn = row_class[ClassAwareSampler(labels, num_samples_cls=3, reduce=1).draw()]
    blocks = drawn.reshape(-1, 3)
    assert np.all(blocks == blocks[:, :1])


def test_per_class_lists_are_cyclic_permutations():
    labels, row_class = single_label([10, 4])
    sampler = ClassAwareSampler(labels, num_samples_cls=3, reduce=1)
    drawn = sampler.draw()
    for c, n in enumerate([10, 4]):
        mine = drawn[row_class[drawn] == c]
        for start in range(0, len(mine) - n + 1, n):  # every full cycle holds every row once
            assert sorted(mine[start : start + n]) == sorted(np.flatnonzero(row_class == c))


def test_multilabel_row_frequency_matches_class_aware_rule():
    # P(row k) = (1/C) Σ_{c ∈ P_k} 1/n_c, unknowns and negatives irrelevant
    rng = np.random.default_rng(2)
    dense = rng.choice([1, 0, -1], size=(50, 6), p=[0.15, 0.6, 0.25]).astype(np.int8)
    dense[:, 5] = 0  # a class without positives is skipped
    labels = LabelSet.from_dense(dense)
    n = (dense == 1).sum(0)
    live = np.flatnonzero(n)
    expected = np.array([sum(1 / n[c] for c in live if dense[k, c] == 1) for k in range(50)])
    expected /= len(live)
    sampler = ClassAwareSampler(labels, num_samples_cls=1, reduce=1)
    draws = []
    for epoch in range(150):
        sampler.set_epoch(epoch)
        draws.append(sampler.draw())
    freq = np.bincount(np.concatenate(draws), minlength=50) / sum(len(d) for d in draws)
    np.testing.assert_allclose(freq, expected, atol=0.004)
    assert len(sampler) == n.max() * len(live)


def test_determinism_per_seed_and_epoch():
    labels, _ = single_label([25, 10, 3])
    a, b = ClassAwareSampler(labels, seed=7), ClassAwareSampler(labels, seed=7)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(ClassAwareSampler(labels, seed=8)) != list(ClassAwareSampler(labels, seed=7))


def test_sparse_labelset_gives_the_same_order():
    rng = np.random.default_rng(3)
    dense = rng.choice([1, 0, -1], size=(80, 7), p=[0.2, 0.5, 0.3]).astype(np.int8)
    labels = LabelSet.from_dense(dense)
    want = list(ClassAwareSampler(labels, seed=1))
    assert list(ClassAwareSampler(labels.to_sparse(), seed=1)) == want
    pos = [np.flatnonzero(r == 1).tolist() for r in dense]
    implied = LabelSet.from_lists(pos, classes=7, unlisted="negative")
    assert list(ClassAwareSampler(implied, seed=1)) == want


def test_state_dict_round_trip():
    labels, _ = single_label([12, 5, 2])
    sampler = ClassAwareSampler(labels, seed=3)
    sampler.set_epoch(4)
    other = ClassAwareSampler(labels)
    other.load_state_dict(sampler.state_dict())
    assert list(other) == list(sampler)
    with pytest.raises(ValueError, match="reduce"):
        ClassAwareSampler(labels, reduce=2).load_state_dict(sampler.state_dict())


def test_bad_input():
    labels, _ = single_label([3, 2])
    with pytest.raises(ValueError, match="num_samples_cls"):
        ClassAwareSampler(labels, num_samples_cls=0)
    with pytest.raises(ValueError, match="seed"):
        ClassAwareSampler(labels, seed=-1)
    with pytest.raises(ValueError, match="epoch"):
        ClassAwareSampler(labels).set_epoch(-2)
    empty = LabelSet.from_dense(np.array([[0, -1], [-1, 0]]))
    with pytest.raises(ValueError, match="no class has a positive"):
        ClassAwareSampler(empty)


def test_works_with_a_dataloader():
    labels, row_class = single_label([20, 4, 1])
    data = TensorDataset(torch.from_numpy(row_class))
    loader = DataLoader(data, batch_size=6, sampler=ClassAwareSampler(labels, reduce=2))
    seen = torch.cat([b[0] for b in loader])
    assert len(seen) == 20 * 3 // 2
    assert set(seen.tolist()) == {0, 1, 2}
