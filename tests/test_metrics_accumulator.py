"""MultilabelAccumulator: de-duplication by sample index, sparse storage, merge, reset."""

import numpy as np
import pytest

from palt.labels import LabelSet
from palt.metrics import MetricInputError, MultilabelAccumulator, evaluate


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    n, c = 103, 5
    targets = rng.choice([1, 0, -1], size=(n, c), p=[0.3, 0.5, 0.2]).astype(np.int8)
    logits = np.round(rng.normal(size=(n, c)) + targets, 1).astype(np.float32)
    return logits, targets


def padded_shards(n, world, seed=0):
    """DistributedSampler-style: shuffle, pad by repeating the head, deal round-robin."""
    order = np.random.default_rng(seed).permutation(n)
    total = -(-n // world) * world
    padded = np.concatenate([order, order[: total - n]])
    return [padded[r::world] for r in range(world)]


@pytest.mark.parametrize("sparse", [False, True])
def test_duplicates_equal_deduplicated(data, sparse):
    logits, targets = data
    want = evaluate(logits, targets, groups={"g": [0, 1]}, top_k=2)
    ranks = []
    for shard in padded_shards(len(logits), world=6):
        acc = MultilabelAccumulator(5, sparse=sparse)
        for b in range(0, len(shard), 8):
            idx = shard[b : b + 8]
            acc.update(idx, logits[idx], targets[idx])
        ranks.append(acc)
    total = ranks[0]
    for other in ranks[1:]:
        total.merge(other)
    got = total.compute(groups={"g": [0, 1]}, top_k=2)
    np.testing.assert_equal(got.ap, want.ap)
    s_got, s_want = got.summary(), want.summary()
    if sparse:  # top-k ranks the stored (annotated) entries only
        for key in ("CP", "CR", "CF1_mean", "CF1_of_means", "OP", "OR", "OF1"):
            s_got.pop(key), s_want.pop(key)
    np.testing.assert_equal(s_got, s_want)
    idx, _, _ = total.collect()
    np.testing.assert_array_equal(idx, np.arange(len(logits)))


def test_sparse_label_batches(data):
    logits, targets = data
    acc = MultilabelAccumulator(5, sparse=True)
    for b in range(0, 103, 20):
        batch = LabelSet.from_dense(targets[b : b + 20]).to_sparse()
        acc.update(np.arange(b, min(b + 20, 103)), logits[b : b + 20], batch)
    np.testing.assert_equal(acc.compute().ap, evaluate(logits, targets).ap)
    dense_acc = MultilabelAccumulator(5)
    dense_acc.update(np.arange(103), logits, LabelSet.from_dense(targets).to_sparse())
    np.testing.assert_equal(dense_acc.compute().ap, evaluate(logits, targets).ap)


def test_asl_ties_follow_sample_index_not_arrival(data):
    logits, targets = data
    acc = MultilabelAccumulator(5)
    order = np.random.default_rng(3).permutation(103)
    acc.update(order, logits[order], targets[order])
    np.testing.assert_equal(
        acc.compute(convention="asl").ap, evaluate(logits, targets, convention="asl").ap
    )


def test_conflicting_duplicates_and_bad_input(data):
    logits, targets = data
    acc = MultilabelAccumulator(5)
    acc.update([0, 1], logits[:2], targets[:2])
    flipped = targets[:1].copy()
    flipped[0, 0] = 1 - abs(flipped[0, 0])
    acc.update([0], logits[:1], flipped)
    with pytest.raises(MetricInputError, match="sample index 0 was given twice"):
        acc.compute()
    with pytest.raises(MetricInputError, match="non-finite"):
        acc.update([5], np.full((1, 5), np.nan), targets[:1])
    with pytest.raises(MetricInputError, match="expected shape"):
        acc.update([5, 6], logits[:1], targets[:1])
    with pytest.raises(ValueError, match="different"):
        acc.merge(MultilabelAccumulator(4))


def test_reset_and_empty(data):
    logits, targets = data
    acc = MultilabelAccumulator(5, class_names=list("abcde"))
    acc.update(np.arange(10), logits[:10], targets[:10])
    assert acc.compute().class_names == tuple("abcde")
    acc.reset()
    with pytest.raises(ValueError, match="empty"):
        acc.compute()


def test_stores_a_copy(data):
    logits, targets = data
    acc = MultilabelAccumulator(5)
    buf = logits[:10].copy()
    acc.update(np.arange(10), buf, targets[:10])
    want = acc.compute().ap
    buf[:] = 0
    np.testing.assert_equal(acc.compute().ap, want)


def test_torch_batches(data):
    torch = pytest.importorskip("torch")
    logits, targets = data
    acc = MultilabelAccumulator(5)
    for b in range(0, 103, 32):
        acc.update(
            torch.arange(b, min(b + 32, 103)),
            torch.from_numpy(logits[b : b + 32]).half(),  # AMP output; widened to fp32
            torch.from_numpy(targets[b : b + 32]).float(),
        )
    _, stored, _ = acc.collect()
    assert stored.dtype == np.float32
    np.testing.assert_equal(acc.compute().ap, evaluate(logits.astype(np.float16), targets).ap)
