"""PLM (Partial Label Masking): masks, loss, r̂ update, guards, resume — against slow references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import palt.methods
from palt.labels import LabelSet
from palt.losses._keyed_random import hash32, step_seed, step_uniform
from palt.losses.plm import (
    PartialLabelMaskingLoss,
    class_ratios,
    keep_probabilities,
    plm_loss,
    updated_ideal_ratio,
)
from palt.methods.base import TrainContext

NP_EPS = np.finfo(np.float64).eps


def _labels(n: int, c: int, seed: int = 0, probs=(0.2, 0.6, 0.2)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([1, 0, -1], dtype=np.int8), size=(n, c), p=probs)


# ----------------------------------------------------------------- counter-based randomness
def test_hash32_matches_a_python_integer_reference():
    def ref(x: int) -> int:
        m = 0xFFFFFFFF
        x &= m
        x ^= x >> 16
        x = (x * 0x7FEB352D) & m
        x ^= x >> 15
        x = (x * 0x846CA68B) & m
        return x ^ (x >> 16)

    values = [0, 1, 2, 12345, 2**31 - 1, 2**32 - 1, 987654321]
    got = hash32(torch.tensor(values, dtype=torch.int64)).tolist()
    assert got == [ref(v) for v in values]


def test_step_uniform_is_keyed_by_seed_step_and_rows():
    rows = torch.arange(2000)
    u = step_uniform(7, 3, rows, 50)
    assert u.shape == (2000, 50) and u.dtype == torch.float32
    assert float(u.min()) >= 0 and float(u.max()) < 1
    assert torch.equal(u, step_uniform(7, 3, rows.clone(), 50))
    others = (
        step_uniform(8, 3, rows, 50),  # seed
        step_uniform(7, 4, rows, 50),  # step
        step_uniform(7, 3, rows + 2000, 50),  # other rows (another process's shard)
    )
    for other in others:
        assert float((u == other).double().mean()) < 1e-3
    seeds = {
        step_seed(s, t, torch.arange(r, r + 4))
        for s in range(3)
        for t in range(3)
        for r in range(3)
    }
    assert len(seeds) == 27 and all(0 <= x < 2**64 for x in seeds)


# ----------------------------------------------------------------- ratios and masks
def test_class_ratios_definitions_and_guards():
    pos = torch.tensor([10, 0, 5, 3])
    neg = torch.tensor([90, 50, 0, 3])
    r = class_ratios(pos, neg, "pos_neg")
    assert r[0] == pytest.approx(10 / 90) and r[1] == 0 and math.isinf(r[2]) and r[3] == 1
    r = class_ratios(pos, neg, "pos_total")
    assert r.tolist() == pytest.approx([0.1, 0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="ratio must be one of"):
        class_ratios(pos, neg, "odds")


def test_keep_probabilities_formula():
    ratio = torch.tensor([0.5, 0.1, 0.2, 0.0, math.inf, 0.3])
    ideal = torch.tensor([0.25, 0.4, 0.2, 0.1, 0.5, 0.0])
    kp, kn = keep_probabilities(ratio, ideal)
    assert kp.tolist() == pytest.approx([0.5, 1, 1, 1, 1, 1])
    assert kn.tolist() == pytest.approx([1, 0.25, 1, 1, 1, 1])


def test_masking_probabilities_monte_carlo():
    ratio = torch.tensor([0.5, 0.1, 0.2, 0.05])
    ideal = torch.tensor([0.2, 0.4, 0.2, 0.5])
    crit = PartialLabelMaskingLoss(ratio, ideal, seed=11)
    n = 20000
    targets = torch.from_numpy(np.tile(np.array([[1, 1, 1, 1], [0, 0, 0, 0]]), (n // 2, 1)))
    kept_pos, kept_neg = torch.zeros(4), torch.zeros(4)
    steps = 3
    for _ in range(steps):
        mask = crit.mask(targets, torch.arange(n))
        kept_pos += mask[targets == 1].reshape(-1, 4).sum(0).float()
        kept_neg += mask[targets == 0].reshape(-1, 4).sum(0).float()
        crit(torch.zeros(n, 4), targets, torch.arange(n))  # advances the step counter
    trials = steps * n // 2
    r, i = ratio.double().numpy(), ideal.double().numpy()
    expect_pos = np.where(r > i, i / r, 1.0)
    expect_neg = np.where(r <= i, r / i, 1.0)
    for got, exp in (
        (kept_pos.numpy() / trials, expect_pos),
        (kept_neg.numpy() / trials, expect_neg),
    ):
        sd = np.sqrt(exp * (1 - exp) / trials) + 1e-12
        assert np.all(np.abs(got - exp) <= 4.5 * sd + 1e-12), (got, exp)


def test_masks_change_between_steps_and_unknown_never_masked():
    ratio, ideal = torch.tensor([0.5]), torch.tensor([0.25])
    crit = PartialLabelMaskingLoss(ratio, ideal, seed=0)
    t = torch.tensor([[1]] * 200 + [[-1]] * 200)
    m1 = crit.mask(t, torch.arange(400))
    crit(torch.zeros(400, 1), t, torch.arange(400))
    m2 = crit.mask(t, torch.arange(400))
    assert not torch.equal(m1[:200], m2[:200])
    assert bool((m1[200:] == 1).all())  # unknown entries: mask 1, loss 0 anyway


# ----------------------------------------------------------------- loss value
def _slow_plm(z, y, mask, unknown, reduction):
    b, c = z.shape
    total, counted = 0.0, 0
    for i in range(b):
        for j in range(c):
            label = int(y[i, j])
            if label == -1 and unknown == "negative":
                label = 0
            if label == -1:
                continue
            counted += 1
            p = 1.0 / (1.0 + math.exp(-float(z[i, j])))
            bce = -math.log(p) if label == 1 else -math.log(1.0 - p)
            total += float(mask[i, j]) * bce
    return total / (b * c) if reduction == "mean" else total / max(counted, 1)


@pytest.mark.parametrize("unknown", ["ignore", "negative"])
@pytest.mark.parametrize("reduction", ["mean", "annotated_mean"])
def test_plm_loss_against_slow_loop(unknown, reduction):
    rng = np.random.default_rng(1)
    z = torch.from_numpy(rng.normal(0, 2, (7, 5))).float()
    y = torch.from_numpy(_labels(7, 5, 2))
    mask = torch.from_numpy(rng.integers(0, 2, (7, 5))).float()
    got = float(plm_loss(z, y, mask, unknown, reduction))
    assert got == pytest.approx(_slow_plm(z, y, mask, unknown, reduction), rel=1e-5)


def test_gradient_zero_on_unknown_and_masked_entries():
    y = torch.tensor([[1, 0, -1, 1], [0, -1, 1, 0]])
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    z = torch.randn(2, 4, requires_grad=True)
    plm_loss(z, y, mask, "ignore").backward()
    zero = (y == -1) | (mask == 0)
    assert bool((z.grad[zero] == 0).all()) and bool((z.grad[~zero] != 0).all())


def test_gradcheck_float64():
    y = torch.from_numpy(_labels(4, 3, 3))
    mask = torch.tensor([[1.0, 0.0, 1.0]] * 4, dtype=torch.float64)
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    for unknown in ("ignore", "negative"):
        assert torch.autograd.gradcheck(lambda x, u=unknown: plm_loss(x, y, mask, u, "sum"), (z,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_no_nan_for_extreme_logits(dtype):
    y = torch.from_numpy(_labels(6, 4, 4))
    z = torch.tensor([[-100.0, 100.0, -60.0, 60.0]] * 6, dtype=dtype, requires_grad=True)
    crit = PartialLabelMaskingLoss(torch.tensor([0.5, 0.1, 0.2, 0.3]), torch.full((4,), 0.25))
    loss = crit(z, y, torch.arange(6))
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert bool(torch.isfinite(z.grad.float()).all())
    crit.update_ideal()
    assert bool(torch.isfinite(crit.ideal).all())


# ----------------------------------------------------------------- r̂ update
def _slow_ideal_update(ideal, probs, labels, eta, bins=10):
    """NumPy reference of specs/losses.md §4.3, one class at a time with numpy.histogram."""
    c = probs.shape[1]
    d_pos, d_neg, valid = np.zeros(c), np.zeros(c), np.zeros(c, bool)
    for k in range(c):
        p_pos = probs[labels[:, k] == 1, k]
        p_neg = probs[labels[:, k] == 0, k]
        if len(p_pos) == 0 or len(p_neg) == 0:
            continue
        valid[k] = True
        for side, values, point in (("pos", p_pos, 1.0), ("neg", p_neg, 0.0)):
            h_pred = np.histogram(values, bins, (0.0, 1.0))[0].astype(float)
            h_true = np.histogram(np.full(len(values), point), bins, (0.0, 1.0))[0].astype(float)
            p, q = h_pred / h_pred.sum(), h_true / h_true.sum()
            q = np.where(q > 0, q, NP_EPS)
            kl = 0.0
            for pb, qb in zip(p, q, strict=True):
                if pb > 0:
                    kl += pb * np.log(pb / qb + NP_EPS)
            (d_pos if side == "pos" else d_neg)[k] = kl
    out = ideal.copy()
    dp, dn = d_pos[valid], d_neg[valid]
    dp = (dp - dp.mean()) / (dp.std() + NP_EPS)
    dn = (dn - dn.mean()) / (dn.std() + NP_EPS)
    out[valid] = ideal[valid] * np.exp(eta * (dp - dn))
    return out


def test_ideal_update_against_numpy_reference_with_a_class_without_positives():
    rng = np.random.default_rng(5)
    n, c = 300, 6
    labels = _labels(n, c, 6)
    labels[:, 2] = np.where(labels[:, 2] == 1, 0, labels[:, 2])  # class 2: no positive this epoch
    logits = rng.normal(0, 2, (n, c)) + 1.5 * (labels == 1)
    ratio = torch.tensor([0.3, 0.2, 0.1, 0.5, 0.05, 0.4])
    ideal = np.array([0.2, 0.25, 0.15, 0.5, 0.3, 0.1])
    crit = PartialLabelMaskingLoss(ratio, torch.from_numpy(ideal), change_rate=0.05, seed=1)
    for chunk in np.array_split(np.arange(n), 4):  # several batches
        crit(
            torch.from_numpy(logits[chunk]).float(),
            torch.from_numpy(labels[chunk]),
            torch.from_numpy(chunk),
        )
    probs = torch.sigmoid(torch.from_numpy(logits).float()).double().numpy()
    expected = _slow_ideal_update(ideal, probs, labels, 0.05)
    crit.update_ideal()
    np.testing.assert_allclose(crit.ideal.numpy(), expected, rtol=1e-9)
    assert crit.ideal[2] == ideal[2]  # guarded: unchanged, not NaN
    assert not np.allclose(expected, ideal)
    assert int(crit.hist_pos.sum()) == 0 and int(crit.hist_neg.sum()) == 0


def test_ideal_update_guards_empty_and_single_class():
    ideal = torch.tensor([0.5, 0.2])
    empty = torch.zeros(2, 10, dtype=torch.int64)
    assert torch.equal(updated_ideal_ratio(ideal, empty, empty), ideal.double())
    h = torch.zeros(2, 10, dtype=torch.int64)
    h[0, 3] = 5
    out = updated_ideal_ratio(ideal, h, h)  # one valid class: standardised D = 0
    assert out.tolist() == pytest.approx([0.5, 0.2])


def test_histograms_accumulate_only_in_training_mode():
    crit = PartialLabelMaskingLoss(torch.tensor([0.5, 0.5]))
    crit.eval()
    crit(torch.zeros(3, 2), torch.tensor([[1, 0], [0, 1], [-1, 1]]))
    assert int(crit.hist_pos.sum()) == 0 and int(crit.step) == 0
    crit.train()
    crit(torch.zeros(3, 2), torch.tensor([[1, 0], [0, 1], [-1, 1]]))
    assert crit.hist_pos.sum().item() == 3 and crit.hist_neg.sum().item() == 2
    assert crit.hist_pos[:, 5].sum().item() == 3  # σ(0) = 0.5 → bin 5
    assert int(crit.step) == 1


# ----------------------------------------------------------------- the method
def _context(n=60, c=5, seed=0):
    y = _labels(n, c, seed)
    y[:, 4] = np.where(y[:, 4] == 1, 0, y[:, 4])  # a class without any training positive
    return y, TrainContext(LabelSet.from_dense(y), epochs=3, steps_per_epoch=4)


def test_method_statistics_and_no_positive_class():
    y, ctx = _context()
    m = palt.methods.create("plm", unknown="ignore", seed=1, ideal_init="balanced")
    m.setup(ctx)
    pos, neg = (y == 1).sum(0), (y == 0).sum(0)
    np.testing.assert_allclose(m.criterion.ratio.numpy()[:4], pos[:4] / neg[:4])
    assert m.criterion.ratio[4] == 0
    targets = torch.from_numpy(y[:20])
    mask = m.criterion.mask(targets, torch.arange(20))
    assert bool((mask[:, 4] == 1).all())  # never masked
    m_neg = palt.methods.create("plm", unknown="negative", ratio="pos_total", seed=1)
    m_neg.setup(ctx)
    np.testing.assert_allclose(m_neg.criterion.ratio.numpy()[:4], pos[:4] / y.shape[0])


def test_method_parameters_are_validated():
    with pytest.raises(ValueError, match="ratio must be one of"):
        palt.methods.create("plm", ratio="odds")
    with pytest.raises(ValueError, match="unknown must be one of"):
        palt.methods.create("plm", unknown="drop")
    with pytest.raises(ValueError, match="ideal_init"):
        palt.methods.create("plm", ideal_init="zero")
    with pytest.raises(ValueError, match="reduction"):
        palt.methods.create("plm", reduction="avg").setup(_context()[1])


def _run(method, y, steps, epoch_end_after=None):
    losses = []
    g = torch.Generator().manual_seed(0)
    for s in range(steps):
        idx = torch.randint(0, y.shape[0], (8,), generator=g)
        z = torch.randn(8, y.shape[1], generator=g)
        losses.append(float(method.loss(z, torch.from_numpy(y[idx.numpy()]), idx, 0)))
        if epoch_end_after is not None and s == epoch_end_after:
            method.on_epoch_end(0)
    return losses


def test_exact_resume_from_state_dict():
    y, ctx = _context()
    a = palt.methods.create("plm", ideal_init="balanced", seed=12)
    a.setup(ctx)
    _run(a, y, 5, epoch_end_after=2)
    state = {k: v.clone() for k, v in a.state_dict().items()}
    b = palt.methods.create("plm", ideal_init="balanced", seed=a.seed + 1)
    b.setup(ctx)
    b.load_state_dict(state)
    t, idx = torch.from_numpy(y[:10]), torch.arange(10)
    assert torch.equal(a.criterion.mask(t, idx), b.criterion.mask(t, idx))
    assert _run(a, y, 6, epoch_end_after=3) == _run(b, y, 6, epoch_end_after=3)
    assert torch.equal(a.criterion.ideal, b.criterion.ideal)


def test_diagnostics_after_an_epoch():
    y, ctx = _context()
    m = palt.methods.create("plm", seed=0, ideal_init="balanced")
    m.setup(ctx)
    _run(m, y, 3)
    m.on_epoch_end(0)
    d = m.diagnostics()
    assert d["head_masked_classes"] + d["tail_masked_classes"] == 4
    assert math.isfinite(d["mean_log_ideal_over_ratio"])
