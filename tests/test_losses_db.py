"""Distribution-Balanced loss family: spec worked examples, a slow per-element reference, gradients,
numerics and the methods (db, db-focal, r-bce-focal, ntr-focal, cb-focal)."""

import math

import numpy as np
import pytest
import torch

from palt.labels import LabelSet
from palt.losses.db import (
    DistributionBalancedLoss,
    class_balanced_weights,
    distribution_balanced_loss,
    logit_shift,
    rebalance_weights,
)
from palt.methods import TrainContext, create

# spec losses.md §1.2–1.4: COCO-MLT (N = 1909), classes with n = 1128, 6, 100
N_COCO = 1909
COUNTS = torch.tensor([1128.0, 6.0, 100.0])
LABELS = torch.tensor([[1, 1, 0]])
LOGITS = torch.tensor([[0.5, -1.0, 0.3]])


def test_worked_example_rebalance_weights():
    w = rebalance_weights(LABELS.float(), COUNTS, alpha=0.1, beta=10.0, mu=0.2)
    np.testing.assert_allclose(w[0].numpy(), [0.224871, 1.099646, 0.297313], atol=1e-5)


def test_worked_example_logit_shift():
    s = logit_shift(COUNTS, N_COCO - COUNTS, kappa=0.05, neg_scale=2.0)
    np.testing.assert_allclose(s.numpy(), [0.00919, -0.14399, -0.07238], atol=1e-5)
    b_hat = s * 2.0 / 0.05
    np.testing.assert_allclose(b_hat.numpy(), [0.3676, -5.7594, -2.8954], atol=1e-4)


def test_worked_example_db_focal():
    loss = distribution_balanced_loss(
        LOGITS, LABELS, COUNTS, N_COCO - COUNTS, reduction="none"
    )  # defaults = paper COCO config
    np.testing.assert_allclose(loss[0].numpy(), [0.029825, 1.796958, 0.105353], atol=1e-5)
    mean = distribution_balanced_loss(LOGITS, LABELS, COUNTS, N_COCO - COUNTS)
    assert mean.item() == pytest.approx(loss.mean().item(), abs=1e-7)


def test_caller_logits_untouched():
    z = LOGITS.clone().requires_grad_()
    distribution_balanced_loss(z, LABELS, COUNTS, N_COCO - COUNTS).backward()
    assert torch.equal(z.detach(), LOGITS)


# ---------------------------------------------------------------- slow reference from the formulas
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _cb(n, b):
    n = max(n, 1.0)
    return (1 - b) / (1 - b**n)


def reference_db(z, y, n, m, o):
    """Per-element loops over B×C following spec §1.2–1.5 and palt's partial-label rules."""
    B, C = len(z), len(z[0])
    out = [[0.0] * C for _ in range(B)]
    for k in range(B):
        P = [j for j in range(C) if y[k][j] == 1]
        inv = [1.0 / n[j] if n[j] > 0 else 0.0 for j in range(C)]
        S = sum(inv[j] for j in P)
        for i in range(C):
            if y[k][i] == -1 and o["unknown"] == "ignore":
                continue
            # weight
            if o["reweight"] == "rebalance":
                w = 1.0 if S == 0 else o["alpha"] + _sigmoid(o["beta"] * (inv[i] / S - o["mu"]))
            elif o["reweight"] == "cb":
                mode = o["cb_mode"]
                if mode == "by_class":
                    w = _cb(n[i], o["cb_beta"])
                elif not P:
                    w = 1.0
                elif mode == "average_w":
                    w = sum(_cb(n[j], o["cb_beta"]) for j in P) / len(P)
                elif mode == "average_n":
                    w = _cb(sum(n[j] for j in P) / len(P), o["cb_beta"])
                else:
                    w = _cb(min(n[j] for j in P), o["cb_beta"])
            elif o["reweight"] in ("inv", "sqrt_inv"):
                tot = n[i] + m[i]
                p = min(max(n[i] / tot, 0.5 / tot), 1 - 0.5 / tot)
                w = 1 / p if o["reweight"] == "inv" else math.sqrt(1 / p)
            else:
                w = 1.0
            # NTR
            lam = o["neg_scale"] if o["ntr"] else 1.0
            zt = z[k][i]
            if o["ntr"]:
                tot = n[i] + m[i]
                p = min(max(n[i] / tot, 0.5 / tot), 1 - 0.5 / tot)
                zt += o["kappa"] / lam * math.log(p / (1 - p))
            if y[k][i] == 1:
                bce, ww = _softplus(-zt), w
            else:
                bce, ww = _softplus(lam * zt), w / lam
            value = ww * bce
            if o["focal"]:
                value *= o["balance_param"] * (1 - math.exp(-bce)) ** o["gamma"]
            out[k][i] = value
    return np.array(out)


DEFAULTS = dict(
    reweight="rebalance",
    ntr=True,
    focal=True,
    alpha=0.1,
    beta=10.0,
    mu=0.2,
    kappa=0.05,
    neg_scale=2.0,
    gamma=2.0,
    balance_param=2.0,
    cb_beta=0.9,
    cb_mode="average_w",
    unknown="ignore",
)

CASES = [
    {},
    {"focal": False},
    {"ntr": False},
    {"reweight": None},
    {"reweight": "cb", "ntr": False},
    {"reweight": "cb", "cb_mode": "by_class"},
    {"reweight": "cb", "cb_mode": "average_n"},
    {"reweight": "cb", "cb_mode": "min_n"},
    {"reweight": "inv"},
    {"reweight": "sqrt_inv", "focal": False},
    {"unknown": "negative"},
    {"neg_scale": 5.0, "mu": 0.3, "gamma": 1.5, "balance_param": 1.0},
]


@pytest.fixture
def random_problem():
    g = torch.Generator().manual_seed(3)
    B, C = 7, 6
    z = torch.randn(B, C, generator=g, dtype=torch.float64) * 3
    y = torch.randint(-1, 2, (B, C), generator=g)
    y[0] = torch.tensor([-1, 0, 0, -1, 0, 0])  # a row without observed positives
    n = torch.tensor([50.0, 3.0, 0.0, 12.0, 200.0, 1.0])  # class 2 has no positives
    m = torch.tensor([150.0, 90.0, 40.0, 0.0, 10.0, 30.0])
    return z, y, n, m


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_matches_slow_reference(random_problem, case):
    z, y, n, m = random_problem
    o = {**DEFAULTS, **case}
    got = distribution_balanced_loss(z, y, n, m, reduction="none", **o)
    want = reference_db(z.tolist(), y.tolist(), n.tolist(), m.tolist(), o)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)
    mean = distribution_balanced_loss(z, y, n, m, reduction="mean", **o)
    assert mean.item() == pytest.approx(want.sum() / want.size, rel=1e-9)
    counted = (y != -1).sum().item() if o["unknown"] == "ignore" else y.numel()
    ann = distribution_balanced_loss(z, y, n, m, reduction="annotated_mean", **o)
    assert ann.item() == pytest.approx(want.sum() / counted, rel=1e-9)


def test_cb_weights_against_formula():
    pos = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    n = torch.tensor([10.0, 2.0, 1.0])
    cb = [(1 - 0.9) / (1 - 0.9**v) for v in (10.0, 2.0, 1.0)]
    w = class_balanced_weights(pos, n, 0.9, "average_w")
    np.testing.assert_allclose(w.numpy(), [[(cb[0] + cb[2]) / 2] * 3, [1.0] * 3], rtol=1e-6)
    with pytest.raises(ValueError, match="cb_mode"):
        class_balanced_weights(pos, n, 0.9, "by_sample")


def test_unknown_entries_get_exactly_zero_gradient(random_problem):
    z, y, n, m = random_problem
    z = z.float().requires_grad_()
    distribution_balanced_loss(z, y, n, m).backward()
    assert torch.all(z.grad[y == -1] == 0)
    assert torch.all(z.grad[y != -1] != 0)


@pytest.mark.parametrize("case", [{}, {"focal": False}, {"reweight": "cb", "ntr": False}])
def test_gradcheck_float64(random_problem, case):
    z, y, n, m = random_problem
    z = z.clone().requires_grad_()
    fn = lambda x: distribution_balanced_loss(x, y, n, m, **{**DEFAULTS, **case})  # noqa: E731
    assert torch.autograd.gradcheck(fn, (z,))


def test_no_nan_extreme_and_low_precision_logits():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(-1, 2, (16, 6), generator=g)
    n, m = torch.tensor([5.0, 1, 0, 9, 300, 2]), torch.tensor([100.0, 3, 8, 0, 1, 60])
    z = (torch.rand(16, 6, generator=g) * 200 - 100).requires_grad_()
    z.data[0] = torch.tensor([-100.0, 100.0, -100.0, 100.0, 0.0, 100.0])
    for neg_scale in (2.0, 5.0):
        loss = distribution_balanced_loss(z, y, n, m, neg_scale=neg_scale)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
        z.grad = None
    for dtype in (torch.float16, torch.bfloat16):
        zl = (torch.randn(16, 6, generator=g) * 30).to(dtype).requires_grad_()
        loss = distribution_balanced_loss(zl, y, n, m)
        loss.backward()
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        assert torch.isfinite(zl.grad.float()).all()


def test_bad_parameters_and_statistics():
    with pytest.raises(ValueError, match="reweight"):
        DistributionBalancedLoss(reweight="rebalanced")
    with pytest.raises(ValueError, match="neg_scale"):
        DistributionBalancedLoss(neg_scale=0.0)
    with pytest.raises(ValueError, match="unknown"):
        DistributionBalancedLoss(unknown="positive")
    with pytest.raises(ValueError, match="reduction"):
        DistributionBalancedLoss(reduction="avg")
    with pytest.raises(RuntimeError, match="set_statistics"):
        DistributionBalancedLoss()(LOGITS, LABELS)
    with pytest.raises(ValueError, match="shape"):
        distribution_balanced_loss(LOGITS, LABELS, COUNTS[:2], COUNTS[:2])
    with pytest.raises(ValueError, match="non-negative"):
        DistributionBalancedLoss(torch.tensor([-1.0]), torch.tensor([1.0]))


# ---------------------------------------------------------------- methods
@pytest.fixture
def context():
    rng = np.random.default_rng(1)
    dense = rng.choice([1, 0, -1], size=(40, 5), p=[0.25, 0.5, 0.25]).astype(np.int8)
    return TrainContext(train_labels=LabelSet.from_dense(dense), epochs=2, steps_per_epoch=4)


PRESETS = {
    "db": dict(reweight="rebalance", ntr=True, focal=False),
    "db-focal": dict(reweight="rebalance", ntr=True, focal=True),
    "r-bce-focal": dict(reweight="rebalance", ntr=False, focal=True),
    "ntr-focal": dict(reweight=None, ntr=True, focal=True),
    "cb-focal": dict(reweight="cb", ntr=False, focal=True),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_method_presets_compute_their_loss(name, context):
    method = create(name, unknown="ignore")
    method.setup(context)
    dense = context.train_labels.to_dense()
    idx = torch.arange(8)
    y = torch.from_numpy(dense[:8]).long()
    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(2))
    pos = torch.from_numpy((dense == 1).sum(0)).float()
    neg = torch.from_numpy((dense == 0).sum(0)).float()
    want = distribution_balanced_loss(z, y, pos, neg, **PRESETS[name])
    got = method.loss(z, y, idx, epoch=0)
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    expected_sampler = None if name == "cb-focal" else "class_aware"
    assert method.default_sampler == expected_sampler


def test_method_unknown_negative_uses_all_non_positives(context):
    method = create("db-focal")  # the methods' default: unknown entries are negatives
    method.setup(context)
    n = context.train_labels.n_samples
    pos = context.train_labels.positive_counts()
    np.testing.assert_array_equal(method.criterion.neg_counts.numpy(), n - pos)


def test_method_state_dict_round_trip(context):
    method = create("db-focal", mu=0.3, neg_scale=5.0)
    method.setup(context)
    fresh = create("db-focal", mu=0.3, neg_scale=5.0)
    fresh.load_state_dict(method.state_dict())  # resume restores the statistics without setup
    y = torch.from_numpy(context.train_labels.to_dense()[:6]).long()
    z = torch.randn(6, 5)
    idx = torch.arange(6)
    assert torch.equal(fresh.loss(z, y, idx, 0), method.loss(z, y, idx, 0))
    assert set(method.state_dict()) == {"criterion.pos_counts", "criterion.neg_counts"}


def test_method_rejects_bad_sampler():
    with pytest.raises(ValueError, match="sampler"):
        create("db", sampler="random")
