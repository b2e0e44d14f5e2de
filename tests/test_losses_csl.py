"""P-ASL / CSL: slow per-element reference for every mode, brute-force selective top-K, gradients,
numerics, and the ``csl`` method with its two-stage prior."""

import math

import numpy as np
import pytest
import torch

from palt.labels import LabelSet
from palt.losses.csl import PartialSelectiveLoss, partial_selective_loss, selection_weights
from palt.methods import StageRequest, TrainContext, create


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def brute_force_selection(z, y, prior, eta, k):
    """ω from spec §3.3 with explicit loops and a Python sort."""
    B, C = len(z), len(z[0])
    omega = [[1.0] * C for _ in range(B)]
    if prior is not None and eta is not None:
        for c in range(C):
            if prior[c] > eta:
                for b in range(B):
                    omega[b][c] = 0.0
        for b in range(B):
            for c in range(C):
                if y[b][c] != -1:
                    omega[b][c] = 1.0
    unknown = [(b, c) for b in range(B) for c in range(C) if y[b][c] == -1]
    unknown.sort(key=lambda bc: -_sigmoid(z[bc[0]][bc[1]]))  # most likely positive first
    for b, c in unknown[: k * B]:
        omega[b][c] = 0.0
    return omega


def reference_pasl(z, y, o, prior=None):
    B, C = len(z), len(z[0])
    if o["mode"] == "selective":
        omega = brute_force_selection(z, y, prior, o["prior_threshold"], o["likelihood_topk"])
    else:
        omega = [
            [1.0 if (y[b][c] != -1 or o["mode"] == "negative") else 0.0 for c in range(C)]
            for b in range(B)
        ]
    out = np.zeros((B, C))
    for b in range(B):
        annotated = sum(1 for c in range(C) if y[b][c] != -1)
        g = 1.0 / (1.0 + annotated) + 1.0 if o["mode"] == "ignore_normalize" else 1.0
        for c in range(C):
            p = _sigmoid(z[b][c])
            q = min(1.0 - p + o["clip"], 1.0)
            if y[b][c] == 1:
                v = -o["alpha_pos"] * (1 - p) ** o["gamma_pos"] * math.log(max(p, o["eps"]))
            elif y[b][c] == 0:
                v = -o["alpha_neg"] * (1 - q) ** o["gamma_neg"] * math.log(max(q, o["eps"]))
            else:
                v = -o["alpha_unann"] * (1 - q) ** o["gamma_unann"] * math.log(max(q, o["eps"]))
            out[b, c] = omega[b][c] * g * v
    return out


DEFAULTS = dict(
    mode="selective",
    gamma_pos=0.0,
    gamma_neg=1.0,
    gamma_unann=4.0,
    alpha_pos=1.0,
    alpha_neg=1.0,
    alpha_unann=1.0,
    clip=0.0,
    eps=1e-8,
    prior_threshold=0.5,
    likelihood_topk=5,
)

CASES = [
    {"mode": "ignore"},
    {"mode": "negative"},
    {"mode": "negative", "gamma_pos": 1.0, "gamma_neg": 3.0, "clip": 0.05, "alpha_unann": 0.5},
    {"mode": "ignore_normalize"},
    {"mode": "selective"},
    {"mode": "selective", "likelihood_topk": 1, "clip": 0.05, "gamma_neg": 2.0},
    {"mode": "selective", "likelihood_topk": 0},
    {"mode": "selective", "prior_threshold": None},
]


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(5)
    B, C = 6, 10
    z = torch.randn(B, C, generator=g, dtype=torch.float64) * 3
    y = torch.randint(-1, 2, (B, C), generator=g)
    y[:, :3] = torch.where(y[:, :3] == 1, -1, y[:, :3])  # more unknowns in the prior classes
    prior = torch.tensor([0.7, 0.55, 0.2, 0.05, 0.6, 0.1, 0.3, 0.01, 0.5, 0.9], dtype=torch.float64)
    return z, y, prior


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_matches_slow_reference(problem, case):
    z, y, prior = problem
    o = {**DEFAULTS, **case}
    got = partial_selective_loss(z, y, prior=prior, reduction="none", **o)
    want = reference_pasl(z.tolist(), y.tolist(), o, prior.tolist())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)
    total = partial_selective_loss(z, y, prior=prior, **o)  # default reduction: sum
    assert total.item() == pytest.approx(want.sum(), rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [0, 1, 2, 5, 50])
def test_selective_topk_is_batch_global(seed, k):
    g = torch.Generator().manual_seed(seed)
    B, C = 5, 8
    z = torch.randn(B, C, generator=g)
    y = torch.randint(-1, 2, (B, C), generator=g)
    prior = torch.rand(C, generator=g)
    got = selection_weights(z, (y == -1).float(), prior, 0.6, k)
    want = brute_force_selection(z.tolist(), y.tolist(), prior.tolist(), 0.6, k)
    np.testing.assert_array_equal(got.numpy(), np.array(want))


def test_topk_not_per_image():
    # all likely unknowns sit in image 0: a per-image rule would ignore at most K of them there
    z = torch.tensor([[5.0, 4.0, 3.0, 2.0], [-5.0, -4.0, -3.0, -2.0]])
    y = torch.full((2, 4), -1)
    omega = selection_weights(z, (y == -1).float(), None, None, likelihood_topk=2)
    np.testing.assert_array_equal(omega.numpy(), [[0, 0, 0, 0], [1, 1, 1, 1]])


@pytest.mark.parametrize("mode", ["ignore", "ignore_normalize", "selective"])
def test_ignored_unknowns_get_exactly_zero_gradient(problem, mode):
    z, y, prior = problem
    z = z.float().requires_grad_()
    o = {**DEFAULTS, "mode": mode, "likelihood_topk": 1}
    partial_selective_loss(z, y, prior=prior.float(), **o).backward()
    if mode == "selective":
        ignored = selection_weights(z.detach(), (y == -1).float(), prior, 0.5, 1) == 0
        assert ignored.any() and (~ignored & (y == -1)).any()
    else:
        ignored = y == -1
    assert torch.all(z.grad[ignored] == 0)
    assert torch.all(z.grad[~ignored] != 0)


def test_detached_focusing_gradient_matches_constant_factor():
    # with (1−p)^γ detached, d/dz of −(1−p)^γ·log p is −(1−p)^γ·(1−p) = −(1−p)^{γ+1}
    z = torch.tensor([[0.3, -1.2]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1, 1]])
    partial_selective_loss(z, y, mode="negative", gamma_pos=2.0).backward()
    p = torch.sigmoid(z.detach())
    torch.testing.assert_close(z.grad, -((1 - p) ** 3))
    z.grad = None
    partial_selective_loss(z, y, mode="negative", gamma_pos=2.0, detach_focusing=False).backward()
    full = -((1 - p) ** 3) + 2 * (1 - p) ** 2 * p * torch.log(p)
    torch.testing.assert_close(z.grad, full)


@pytest.mark.parametrize("mode", ["ignore", "negative", "ignore_normalize", "selective"])
def test_gradcheck_float64(problem, mode):
    z, y, prior = problem
    z = z.clone().requires_grad_()
    o = {**DEFAULTS, "mode": mode, "detach_focusing": False, "clip": 0.0}
    fn = lambda x: partial_selective_loss(x, y, prior=prior, **o)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (z,))


def test_no_nan_extreme_and_low_precision_logits():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(-1, 2, (16, 6), generator=g)
    prior = torch.tensor([0.6, 0.1, 0.2, 0.9, 0.0, 0.3])
    z = (torch.rand(16, 6, generator=g) * 200 - 100).requires_grad_()
    z.data[0] = torch.tensor([-100.0, 100.0, -100.0, 100.0, 0.0, 100.0])
    for mode in ("ignore", "negative", "ignore_normalize", "selective"):
        for detach in (True, False):
            loss = partial_selective_loss(
                z, y, mode=mode, prior=prior, clip=0.05, detach_focusing=detach
            )
            loss.backward()
            assert torch.isfinite(loss) and torch.isfinite(z.grad).all(), mode
            z.grad = None
    for dtype in (torch.float16, torch.bfloat16):
        zl = (torch.randn(16, 6, generator=g) * 30).to(dtype).requires_grad_()
        loss = partial_selective_loss(zl, y, prior=prior)
        loss.backward()
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        assert torch.isfinite(zl.grad.float()).all()


def test_bad_parameters():
    with pytest.raises(ValueError, match="mode"):
        PartialSelectiveLoss(mode="ignore_normalize_classes")
    with pytest.raises(ValueError, match="likelihood_topk"):
        PartialSelectiveLoss(likelihood_topk=2.5)
    with pytest.raises(ValueError, match="clip"):
        PartialSelectiveLoss(clip=1.0)
    with pytest.raises(ValueError, match="prior"):
        PartialSelectiveLoss(prior=torch.tensor([0.2, 1.5]))
    with pytest.raises(ValueError, match="prior has shape"):
        PartialSelectiveLoss(prior=torch.tensor([0.2, 0.5]))(torch.zeros(2, 3), torch.zeros(2, 3))


# ---------------------------------------------------------------- the csl method and its prior stage
@pytest.fixture
def context():
    rng = np.random.default_rng(4)
    dense = rng.choice([1, 0, -1], size=(30, 4), p=[0.2, 0.3, 0.5]).astype(np.int8)
    dense[:, 3] = -1  # a class without any annotation
    return TrainContext(train_labels=LabelSet.from_dense(dense), epochs=2, steps_per_epoch=3)


def test_prior_stage_request_and_consume(context):
    method = create("csl-selective", gamma_neg=3.0, prior_epochs=2)
    method.setup(context)
    stage = method.prior_stage()
    assert isinstance(stage, StageRequest)
    assert stage.method == "csl" and stage.params["mode"] == "ignore" and stage.epochs == 2
    assert stage.params["gamma_neg"] == 3.0
    first = create(stage.method, **stage.params)  # stage 1 is a valid method without a stage
    assert first.prior_stage() is None
    y = torch.from_numpy(context.train_labels.to_dense()[:5]).long()
    with pytest.raises(RuntimeError, match="prior"):
        method.loss(torch.zeros(5, 4), y, torch.arange(5), 0)
    probs = torch.rand(30, 4, generator=torch.Generator().manual_seed(0))
    method.consume_stage(probs)
    np.testing.assert_allclose(method.criterion.prior.numpy(), probs.numpy().mean(0), rtol=1e-6)
    z = torch.randn(5, 4)
    want = partial_selective_loss(
        z, y, mode="selective", gamma_neg=3.0, prior=probs.mean(0), prior_threshold=0.5
    )
    assert method.loss(z, y, torch.arange(5), 0).item() == pytest.approx(want.item(), rel=1e-6)


def test_prior_stage_only_for_selective_stage_prior(context):
    assert create("csl-ignore").prior_stage() is None
    assert create("csl-negative").prior_stage() is None
    assert create("csl", prior="annotations").prior_stage() is None
    with pytest.raises(NotImplementedError):
        create("csl-negative").consume_stage(torch.rand(3, 4))


def test_annotation_prior(context):
    method = create("csl", prior="annotations")
    method.setup(context)
    dense = context.train_labels.to_dense()
    want = []
    for c in range(dense.shape[1]):
        pos, neg = (dense[:, c] == 1).sum(), (dense[:, c] == 0).sum()
        want.append(pos / (pos + neg) if pos + neg else 0.0)
    np.testing.assert_allclose(method.criterion.prior.numpy(), want, rtol=1e-6)


def test_explicit_prior_checked_against_classes(context):
    method = create("csl", prior=[0.1, 0.9, 0.3, 0.2])
    method.setup(context)
    assert method.prior_stage() is None
    with pytest.raises(ValueError, match="4 classes"):
        create("csl", prior=[0.1, 0.9]).setup(context)


def test_state_dict_round_trip(context):
    method = create("csl")
    method.setup(context)
    method.consume_stage(torch.rand(30, 4))
    fresh = create("csl")
    fresh.load_state_dict(method.state_dict())  # the stage-1 prior is restored, no rerun
    y = torch.from_numpy(context.train_labels.to_dense()[:6]).long()
    z = torch.randn(6, 4)
    assert torch.equal(fresh.loss(z, y, torch.arange(6), 0), method.loss(z, y, torch.arange(6), 0))
