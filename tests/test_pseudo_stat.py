"""pseudo-stat (palt's interpretation of Zhang et al. 2023): each piece against a slow reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import palt.methods
from palt.labels import LabelSet
from palt.losses.pseudo_stat import (
    budget_pseudo_positives,
    class_thresholds,
    estimated_prior,
    pseudo_labels,
    shrink_label_space,
    statistics_aware_loss,
    statistics_weights,
)
from palt.methods.base import TrainContext


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _labels(n: int, c: int, seed: int = 0, probs=(0.2, 0.5, 0.3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([1, 0, -1], dtype=np.int8), size=(n, c), p=probs)


# ----------------------------------------------------------------- statistics-aware weights
def _slow_weights(pos, neg, n, weighting, power, beta, cap, prior):
    wp, wn = [], []
    for a, b in zip(pos, neg, strict=True):
        pi = a / (a + b) if prior == "annotated" and b > 0 else a / n
        if weighting == "none":
            wp.append(1.0)
            wn.append(1.0)
            continue
        pc, mc = max(n * pi, 1.0), max(n * (1 - pi), 1.0)
        if weighting == "prior":
            g = lambda x: x**power  # noqa: E731
        else:
            g = lambda x: (1 - beta**x) / (1 - beta)  # noqa: E731
        wp.append(min(g(n / 2) / g(pc), cap))
        wn.append(min(g(n / 2) / g(mc), cap))
    return np.array(wp), np.array(wn)


@pytest.mark.parametrize("weighting", ["prior", "effective_number", "none"])
@pytest.mark.parametrize("prior", ["annotated", "assume_negative"])
def test_statistics_weights_against_slow_reference(weighting, prior):
    pos = [500, 40, 3, 0, 12, 900]
    neg = [300, 500, 800, 600, 0, 50]
    n = 1000
    got = statistics_weights(
        torch.tensor(pos), torch.tensor(neg), n, weighting, 0.7, 0.99, 15.0, prior
    )
    exp = _slow_weights(pos, neg, n, weighting, 0.7, 0.99, 15.0, prior)
    np.testing.assert_allclose(got[0].numpy(), exp[0], rtol=1e-10)
    np.testing.assert_allclose(got[1].numpy(), exp[1], rtol=1e-10)


def test_weights_balanced_class_and_rare_class():
    wp, wn = statistics_weights(torch.tensor([50, 1]), torch.tensor([50, 99]), 100, "prior", 0.5)
    assert wp[0] == pytest.approx(1.0) and wn[0] == pytest.approx(1.0)
    assert wp[1] == pytest.approx(math.sqrt(50)) and wn[1] == pytest.approx(math.sqrt(50 / 99))
    assert estimated_prior(torch.tensor([4]), torch.tensor([0]), 40).item() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="weighting must be one of"):
        statistics_weights(torch.tensor([1]), torch.tensor([1]), 2, "inverse")


# ----------------------------------------------------------------- pseudo-labels
def test_class_thresholds_formula():
    mu = torch.tensor([0.9, 0.4, 0.1, 0.95])
    has = torch.tensor([True, True, True, False])
    tp, tn = class_thresholds(mu, has, 0.7, 0.3, 0.5, "class_aware")
    assert tp.tolist() == pytest.approx([0.9, 0.7, 0.7, 0.7])
    assert tn.tolist() == pytest.approx([0.3, 0.2, 0.05, 0.3])
    tp, tn = class_thresholds(mu, has, 0.7, 0.3, 0.5, "fixed")
    assert tp.tolist() == pytest.approx([0.7] * 4) and tn.tolist() == pytest.approx([0.3] * 4)


def test_pseudo_labels_against_loop():
    rng = np.random.default_rng(2)
    p = torch.from_numpy(rng.random((9, 4)))
    y = torch.from_numpy(_labels(9, 4, 3))
    tp, tn = torch.tensor([0.6, 0.8, 0.5, 0.9]), torch.tensor([0.2, 0.3, 0.6, 0.1])
    pp, pn = pseudo_labels(p, y == -1, tp, tn)
    for i in range(9):
        for j in range(4):
            unk = int(y[i, j]) == -1
            is_pos = unk and float(p[i, j]) >= float(tp[j])
            is_neg = unk and not is_pos and float(p[i, j]) <= float(tn[j])
            assert pp[i, j] == float(is_pos) and pn[i, j] == float(is_neg)


def _slow_budget(pp, p, budget):
    """Per class: sort the pseudo-positive rows by (−p, row) and keep the first budget[c]."""
    keep = np.zeros_like(pp, dtype=bool)
    for j in range(pp.shape[1]):
        rows = sorted((i for i in range(pp.shape[0]) if pp[i, j]), key=lambda i: (-p[i, j], i))
        for i in rows[: int(budget[j])]:
            keep[i, j] = True
    return keep


def test_budget_keeps_the_top_scoring_pseudo_positives():
    rng = np.random.default_rng(8)
    p = rng.random((40, 6))
    pp = (p > 0.4) & (rng.random((40, 6)) < 0.7)
    p[:, 0] *= 0.9
    p[:4, 0], pp[:4, 0] = 0.95, True  # the four best in class 0 tie: the earlier rows win
    budget = np.array([2, 0, 5, 100, 1, 7])
    got = budget_pseudo_positives(
        torch.from_numpy(pp).float(), torch.from_numpy(p), torch.from_numpy(budget)
    )
    keep = _slow_budget(pp, p, budget)
    assert np.array_equal(got.numpy().astype(bool), keep)
    assert (got.numpy().sum(0) == np.minimum(budget, pp.sum(0))).all()
    assert got[:2, 0].tolist() == [1.0, 1.0] and got[2:4, 0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0, 2.5])
def test_loss_budget_against_slow_reference(ratio):
    rng = np.random.default_rng(9)
    y = torch.from_numpy(_labels(30, 4, 10, probs=(0.1, 0.0, 0.9)))
    z = torch.from_numpy(rng.normal(1.5, 2.0, (30, 4))).float().requires_grad_(True)
    tp, tn = torch.full((4,), 0.6), torch.full((4,), 0.2)
    out = statistics_aware_loss(
        z, y, torch.ones(4), torch.ones(4), tp, tn, None, 1.0, "pseudo", "sum", ratio
    )
    p = torch.sigmoid(z.detach()).double().numpy()
    unk, pos = y.numpy() == -1, y.numpy() == 1
    budget = np.floor(ratio * pos.sum(0) + 1e-9)
    keep = _slow_budget(unk & (p >= 0.6), p, budget)
    neg = unk & (p <= 0.2)
    assert np.array_equal(out.pseudo_pos.numpy().astype(bool), keep)
    assert (out.pseudo_pos.numpy().sum(0) <= budget).all()
    exp = -(np.log(p)[pos | keep].sum() + np.log(1 - p)[neg].sum())
    assert float(out.loss) == pytest.approx(exp, rel=1e-5)
    out.loss.backward()
    ignored = unk & ~keep & ~neg  # over budget or between the thresholds
    assert ignored.any() and bool((z.grad.numpy()[ignored] == 0).all())
    assert bool((z.grad.numpy()[~ignored] != 0).all())


# ----------------------------------------------------------------- the loss
def _slow_loss(z, y, wp, wn, tp, tn, active, pw, unlabelled, reduction):
    b, c = z.shape
    total, counted = 0.0, 0
    for i in range(b):
        for j in range(c):
            if not active[j]:
                continue
            label, weight = int(y[i, j]), 1.0
            p = _sig(float(z[i, j]))
            if label == -1:
                weight = pw
                if unlabelled == "negative":
                    label = 0
                elif unlabelled == "pseudo" and p >= tp[j]:
                    label = 1
                elif unlabelled == "pseudo" and p <= tn[j]:
                    label = 0
                else:
                    continue
            counted += 1
            if label == 1:
                total += weight * wp[j] * -math.log(p)
            else:
                total += weight * wn[j] * -math.log(1 - p)
    return total / (b * c) if reduction == "mean" else total / max(counted, 1)


@pytest.mark.parametrize("unlabelled", ["pseudo", "negative", "ignore"])
@pytest.mark.parametrize("reduction", ["mean", "annotated_mean"])
def test_statistics_aware_loss_against_slow_loop(unlabelled, reduction):
    rng = np.random.default_rng(4)
    z = torch.from_numpy(rng.normal(0, 2, (8, 5))).float()
    y = torch.from_numpy(_labels(8, 5, 5))
    wp, wn = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5]), torch.tensor([0.9, 0.8, 1.1, 0.7, 1.0])
    tp, tn = torch.full((5,), 0.7), torch.full((5,), 0.25)
    active = torch.tensor([True, True, False, True, True])
    got = statistics_aware_loss(z, y, wp, wn, tp, tn, active, 0.6, unlabelled, reduction).loss
    exp = _slow_loss(
        z,
        y,
        wp.tolist(),
        wn.tolist(),
        tp.tolist(),
        tn.tolist(),
        active.tolist(),
        0.6,
        unlabelled,
        reduction,
    )
    assert float(got) == pytest.approx(exp, rel=1e-5)


def test_gradient_zero_where_ignored_or_inactive():
    z = torch.tensor([[3.0, 0.0, -3.0, 0.5], [0.2, 1.0, -0.1, 2.0]], requires_grad=True)
    y = torch.tensor([[-1, -1, -1, 1], [0, -1, 1, 0]])
    active = torch.tensor([True, True, True, False])
    out = statistics_aware_loss(
        z, y, torch.ones(4), torch.ones(4), torch.full((4,), 0.9), torch.full((4,), 0.1), active
    )
    out.loss.backward()
    # σ(3) = .95 ≥ .9 pseudo-positive; σ(0) = .5 ignored; σ(−3) = .047 pseudo-negative; col 3 inactive
    assert out.pseudo_pos[0, 0] == 1 and out.pseudo_neg[0, 2] == 1
    ignored = torch.tensor([[False, True, False, True], [False, True, False, True]])
    assert bool((z.grad[ignored] == 0).all()) and bool((z.grad[~ignored] != 0).all())


def test_gradcheck_float64():
    y = torch.from_numpy(_labels(4, 3, 6))
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    wp, wn = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([0.5, 1.0, 1.5])
    tp, tn = torch.full((3,), 0.6), torch.full((3,), 0.4)

    def f(x):
        return statistics_aware_loss(x, y, wp, wn, tp, tn, None, 0.5, "pseudo", "sum").loss

    assert torch.autograd.gradcheck(f, (z,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_no_nan_for_extreme_logits(dtype):
    y = torch.from_numpy(_labels(6, 4, 7))
    z = torch.tensor([[-100.0, 100.0, -60.0, 60.0]] * 6, dtype=dtype, requires_grad=True)
    out = statistics_aware_loss(
        z, y, torch.full((4,), 20.0), torch.ones(4), torch.full((4,), 0.7), torch.full((4,), 0.3)
    )
    out.loss.backward()
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    assert bool(torch.isfinite(z.grad.float()).all())


# ----------------------------------------------------------------- shrinking schedule
def test_shrink_schedule_on_a_constructed_example():
    c = 6
    active = torch.ones(c, dtype=torch.bool)
    streak = torch.zeros(c, dtype=torch.int64)
    score = torch.tensor([0.95, 0.9, 0.85, 0.2, 0.99, 0.1], dtype=torch.float64)
    resolved = score >= 0.8  # classes 0, 1, 2, 4
    # epoch 1: streaks reach 1 < patience 2, nothing frozen
    active, streak = shrink_label_space(resolved, score, active, streak, 2, 3)
    assert active.all() and streak.tolist() == [1, 1, 1, 0, 1, 0]
    # epoch 2: four candidates but at least 3 active: the 3 most resolved (4, 0, 1) are frozen
    active, streak = shrink_label_space(resolved, score, active, streak, 2, 3)
    assert active.tolist() == [False, False, True, True, False, True]
    # epoch 3: class 0 stops being resolved -> reactivated; class 2 may now be frozen
    resolved3 = resolved.clone()
    resolved3[0] = False
    active3, streak3 = shrink_label_space(resolved3, score, active, streak, 2, 3)
    assert active3.tolist() == [True, False, False, True, False, True]
    assert streak3.tolist() == [0, 3, 3, 0, 3, 0]
    # without reactivation class 0 stays frozen and class 2 is held back by the minimum
    active4, _ = shrink_label_space(resolved3, score, active, streak, 2, 3, reactivate=False)
    assert active4.tolist() == [False, False, True, True, False, True]


# ----------------------------------------------------------------- the method
def _problem(n=120, c=5, seed=0):
    rng = np.random.default_rng(seed)
    full = (rng.random((n, c)) < np.array([0.5, 0.3, 0.2, 0.1, 0.05])[:c]).astype(np.int8)
    obs = np.where(rng.random((n, c)) < 0.4, -1, full).astype(np.int8)
    ctx = TrainContext(
        LabelSet.from_dense(obs),
        epochs=4,
        steps_per_epoch=4,
        full_train_labels=LabelSet.from_dense(full),
    )
    return full, obs, ctx


def _epoch(method, logits, obs, epoch, batch=30):
    losses = []
    for start in range(0, obs.shape[0], batch):
        idx = torch.arange(start, min(start + batch, obs.shape[0]))
        t = torch.from_numpy(obs[idx.numpy()])
        losses.append(float(method.loss(logits[idx], t, idx, epoch)))
    method.on_epoch_end(epoch)
    return losses


def test_method_weights_warmup_statistics_and_pseudo_diagnostics():
    full, obs, ctx = _problem()
    m = palt.methods.create("pseudo-stat", shrink=False, budget_ratio=None)
    m.setup(ctx)
    pos, neg = (obs == 1).sum(0), (obs == 0).sum(0)
    exp_wp, exp_wn = _slow_weights(pos, neg, obs.shape[0], "prior", 0.5, 0.999, 20.0, "annotated")
    np.testing.assert_allclose(m.w_pos.numpy(), exp_wp)
    np.testing.assert_allclose(m.w_neg.numpy(), exp_wn)
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(0, 1.5, obs.shape) + 2.5 * (full - 0.5)).float()
    # epoch 0 (warm-up): every unknown is an assumed negative
    z0, t0 = logits[:30], torch.from_numpy(obs[:30])
    exp0 = _slow_loss(z0, t0, exp_wp, exp_wn, None, None, [True] * 5, 1.0, "negative", "mean")
    assert m.loss(z0, t0, torch.arange(30), 0).item() == pytest.approx(exp0, rel=1e-5)
    m2 = palt.methods.create("pseudo-stat", shrink=False, budget_ratio=None)
    m2.setup(ctx)
    _epoch(m2, logits, obs, 0)
    p = torch.sigmoid(logits).double().numpy()
    mu = np.array([p[obs[:, k] == 1, k].mean() for k in range(5)])
    np.testing.assert_allclose(m2.mean_pos.numpy(), mu, rtol=1e-6)
    tp = np.maximum(0.7, mu)
    tn = np.minimum(0.3, 0.5 * mu)
    # epoch 1: class-aware pseudo-labels from the epoch-0 statistics
    exp1 = _slow_loss(z0, t0, exp_wp, exp_wn, tp, tn, [True] * 5, 1.0, "pseudo", "mean")
    assert m2.loss(z0, t0, torch.arange(30), 1).item() == pytest.approx(exp1, rel=1e-5)
    m3 = palt.methods.create("pseudo-stat", shrink=False, budget_ratio=None)
    m3.setup(ctx)
    _epoch(m3, logits, obs, 0)
    _epoch(m3, logits, obs, 1)
    unk = obs == -1
    pp = unk & (p >= tp)
    pn = unk & ~pp & (p <= tn)
    d = m3.diagnostics()
    assert d["pseudo_positives"] == pp.sum() and d["pseudo_negatives"] == pn.sum()
    assert d["pseudo_pos_precision"] == pytest.approx((pp & (full == 1)).sum() / pp.sum())
    assert d["pseudo_pos_recall"] == pytest.approx(
        (pp & (full == 1)).sum() / (unk & (full == 1)).sum()
    )
    assert d["pseudo_neg_precision"] == pytest.approx((pn & (full == 0)).sum() / pn.sum())
    assert d["active_classes"] == 5


def test_method_budget_bounds_pseudo_positives_per_class_and_batch():
    full, obs, ctx = _problem(seed=2)
    logits = torch.full(obs.shape, 4.0)  # every unknown entry above τ⁺ after the warm-up
    for ratio in (0.0, 0.5, None):
        m = palt.methods.create("pseudo-stat", shrink=False, thresholds="fixed", budget_ratio=ratio)
        m.setup(ctx)
        _epoch(m, logits, obs, 0)
        _epoch(m, logits, obs, 1)
        unk = obs == -1
        if ratio is None:
            exp = unk.sum()
        else:  # per batch of 30 rows and class: min(⌊r·annotated positives⌋, unknown entries)
            exp = sum(
                np.minimum(
                    np.floor(ratio * (obs[s : s + 30] == 1).sum(0)), unk[s : s + 30].sum(0)
                ).sum()
                for s in range(0, obs.shape[0], 30)
            )
        assert m.diagnostics()["pseudo_positives"] == exp


def test_method_shrinks_resolved_classes_and_keeps_a_minimum():
    full, obs, ctx = _problem(seed=3)
    m = palt.methods.create(
        "pseudo-stat", patience=2, min_active_fraction=0.6, separation_threshold=0.8
    )
    m.setup(ctx)
    # classes 0, 1, 2 perfectly separated, classes 3, 4 not at all
    logits = torch.from_numpy(np.where(full == 1, 6.0, -6.0)).float()
    logits[:, 3:] = 0.0
    _epoch(m, logits, obs, 0)
    assert m.active.all() and m.streak.tolist() == [1, 1, 1, 0, 0]
    _epoch(m, logits, obs, 1)
    assert m.active.sum() == 3 and m.active[3:].all()  # min active = ⌈0.6·5⌉ = 3
    assert m.diagnostics()["active_classes"] == 3
    frozen = (~m.active).nonzero().reshape(-1)
    z = logits.clone().requires_grad_(True)
    m.loss(z[:30], torch.from_numpy(obs[:30]), torch.arange(30), 2).backward()
    assert bool((z.grad[:, frozen] == 0).all())


def test_method_loss_criterion():
    full, obs, ctx = _problem(seed=4)
    m = palt.methods.create(
        "pseudo-stat", resolve_by="loss", loss_threshold=0.01, patience=1, min_active_fraction=0.2
    )
    m.setup(ctx)
    logits = torch.from_numpy(np.where(full == 1, 9.0, -9.0)).float()
    logits[:, 0] = 0.0  # class 0 has mean BCE log 2 on annotated entries
    _epoch(m, logits, obs, 0)
    assert m.active.tolist() == [True, False, False, False, False]


def test_exact_resume_from_state_dict():
    full, obs, ctx = _problem(seed=5)
    rng = np.random.default_rng(6)
    logits = torch.from_numpy(rng.normal(0, 1, obs.shape) + 4 * (full - 0.5)).float()
    a = palt.methods.create("pseudo-stat", patience=1)
    a.setup(ctx)
    _epoch(a, logits, obs, 0)
    _epoch(a, logits, obs, 1)
    t, idx = torch.from_numpy(obs[:40]), torch.arange(40)
    a.loss(logits[:40], t, idx, 2)  # mid-epoch accumulators
    state = {k: v.clone() for k, v in a.state_dict().items()}
    b = palt.methods.create("pseudo-stat", patience=1)
    b.setup(ctx)
    b.load_state_dict(state)
    rest = torch.arange(40, obs.shape[0])
    la = a.loss(logits[rest], torch.from_numpy(obs[40:]), rest, 2)
    lb = b.loss(logits[rest], torch.from_numpy(obs[40:]), rest, 2)
    assert la.item() == lb.item()
    a.on_epoch_end(2)
    b.on_epoch_end(2)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert a.diagnostics() == pytest.approx(b.diagnostics(), nan_ok=True)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"weighting": "inverse"}, "weighting must be one of"),
        ({"thresholds": "otsu"}, "thresholds must be one of"),
        ({"pos_threshold": 0.2, "neg_threshold": 0.3}, "neg_threshold"),
        ({"patience": 0}, "patience"),
        ({"min_active_fraction": 0.0}, "min_active_fraction"),
        ({"resolve_by": "ap"}, "resolve_by"),
        ({"reduction": "avg"}, "reduction"),
        ({"beta": 1.0}, "beta"),
        ({"budget_ratio": -0.5}, "budget_ratio"),
    ],
)
def test_parameters_are_validated(params, match):
    with pytest.raises(ValueError, match=match):
        palt.methods.create("pseudo-stat", **params)
