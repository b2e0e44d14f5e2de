"""COMIC: losses against slow per-element references, the three-branch head, the method."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

import palt.methods as methods
from palt.labels import LabelSet
from palt.losses.comic import HeadTailBalancer, MultiFocalModifier, ReflectiveLabelCorrector
from palt.methods import TrainContext
from palt.methods.comic_head import ComicHead, NormalizedClassifier

EPS = 1e-8


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread avoids the thread-sync cost that dominates on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- slow references (spec §3)
def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _weights(counts, exponent):
    n = [max(float(c), 1.0) for c in counts]
    top = max(n)
    return [(1.0 - math.log(c / top)) ** exponent for c in n]


def ref_mfm(z, y, counts, variant="A", cooc=None):
    """Spec §3.2 term by term; unknown (−1) counts as 0."""
    B, C = len(z), len(z[0])
    gamma_pn, exponent = (4.0, 1 / 6) if variant == "A" else (3.0, 1 / 3)
    w = _weights(counts, exponent)
    total = 0.0
    for i in range(B):
        a = [0.0] * C
        if variant == "B":
            pos = [k for k in range(C) if y[i][k] == 1]
            col = [sum(cooc[r][j] for r in range(C)) for j in range(C)]
            mt = [[cooc[r][j] / col[j] if col[j] else 0.0 for j in range(C)] for r in range(C)]
            if pos:
                a = [sum(mt[k][j] for k in pos) / len(pos) for j in range(C)]
                s = sum(a)
                a = [v / s for v in a] if s > 0 else [0.0] * C
        for c in range(C):
            p = _sig(z[i][c])
            if y[i][c] == 1:
                qp = p * (1 - a[c])
                total += w[c] * math.log(max(qp, EPS))
            else:
                qn = min(1 - p + 0.05, 1.0)
                if a[c] != 0:
                    qn = min(qn * 1.2, 1.0)
                total += w[c] * math.log(max(qn, EPS)) * (1 - qn) ** (gamma_pn + w[c])
    return -total


class RefRLC:
    """Spec §3.1, code behaviour, with its own dynamic distribution."""

    def __init__(self, counts, tau=0.7, margin=1.0):
        self.base = [float(c) for c in counts]
        self.d = list(self.base)
        self.epoch = -1
        self.tau, self.margin = tau, margin
        self.recalled = 0

    def __call__(self, z, y, epoch):
        B, C = len(z), len(z[0])
        obs = [[1 if y[i][c] == 1 else 0 for c in range(C)] for i in range(B)]
        p = [[_sig(z[i][c] - self.margin * obs[i][c]) for c in range(C)] for i in range(B)]
        thr = [sum(p[i][c] for i in range(B)) / B for c in range(C)]
        rec = [
            [int(obs[i][c] == 0 and p[i][c] > self.tau and p[i][c] > thr[c]) for c in range(C)]
            for i in range(B)
        ]
        if epoch != self.epoch:
            self.epoch, self.d = epoch, list(self.base)
        for c in range(C):
            self.d[c] += sum(rec[i][c] for i in range(B))
        self.recalled = sum(map(sum, rec))
        v = _weights(self.d, 1 / 6)
        total, n_t = 0.0, 0
        for i in range(B):
            for c in range(C):
                t = max(obs[i][c], rec[i][c])
                n_t += t
                if t:
                    total += v[c] * math.log(max(p[i][c], EPS))
                else:
                    qn = min(1 - p[i][c] + 0.05, 1.0)
                    total += v[c] * math.log(max(qn, EPS)) * (1 - qn) ** (3 + v[c])
        return -(32.0 / max(n_t, 1)) * total


def _softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def ref_htb(zh, zt, zb, y, counts, alpha=2.0):
    lh, lt = ref_mfm(zh, y, counts) ** alpha, ref_mfm(zt, y, counts) ** alpha
    kh, kt = lh / (lh + lt), lt / (lh + lt)
    ph, pt, pb = ([_softmax(r) for r in m] for m in (zh, zt, zb))
    prod_h = [[a * b for a, b in zip(ph[i], pb[i], strict=True)] for i in range(len(zb))]
    prod_t = [[a * b for a, b in zip(pt[i], pb[i], strict=True)] for i in range(len(zb))]
    return kh * ref_mfm(prod_h, y, counts) + kt * ref_mfm(prod_t, y, counts)


# ---------------------------------------------------------------- fixtures
def _batch(seed=0, b=12, c=6, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, c, generator=g, dtype=torch.float64) * scale
    y = torch.randint(-1, 2, (b, c), generator=g)
    y[0] = 0  # a sample with no positive
    y[1, :] = -1
    return z, y


COUNTS = torch.tensor([120, 40, 9, 3, 0, 60])


def _cooc(seed=1, n=50, c=6):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, c)) < 0.3).astype(np.int64)
    Y[:, 4] = 0  # a class never observed: zero column
    return Y.T @ Y


# ---------------------------------------------------------------- losses vs references
@pytest.mark.parametrize("variant", ["A", "B"])
def test_mfm_matches_reference(variant):
    z, y = _batch(3)
    cooc = _cooc() if variant == "B" else None
    loss = MultiFocalModifier(
        COUNTS, variant=variant, cooccurrence=None if cooc is None else torch.as_tensor(cooc)
    )
    got = loss(z, y).item()
    want = ref_mfm(
        z.tolist(), y.tolist(), COUNTS.tolist(), variant, None if cooc is None else cooc.tolist()
    )
    assert got == pytest.approx(want, rel=1e-6)


def test_mfm_b_needs_cooccurrence_and_a_is_a_distribution():
    with pytest.raises(ValueError, match="co-occurrence"):
        MultiFocalModifier(COUNTS, variant="B")
    with pytest.raises(ValueError, match="variant"):
        MultiFocalModifier(COUNTS, variant="C")
    m = MultiFocalModifier(COUNTS, variant="B", cooccurrence=torch.as_tensor(_cooc()))
    pos = torch.tensor([[1.0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    a = m.prior_scores(pos)
    assert a[0].sum().item() == pytest.approx(1.0)
    assert torch.all(a[1] == 0)


def test_rlc_matches_reference_across_batches_and_epochs():
    rlc = ReflectiveLabelCorrector(COUNTS)
    ref = RefRLC(COUNTS.tolist())
    recalled_any = False
    for step, epoch in enumerate([0, 0, 0, 1, 1]):
        z, y = _batch(10 + step, b=16)
        z = z + 1.5  # many confident scores so labels get recalled
        got = rlc(z, y, epoch).item()
        want = ref(z.tolist(), y.tolist(), epoch)
        assert got == pytest.approx(want, rel=1e-6)
        assert rlc.counts.tolist() == pytest.approx(ref.d)
        assert int(rlc.last_recalled.sum()) == ref.recalled
        recalled_any |= ref.recalled > 0
    assert recalled_any
    # the dynamic distribution restarted at epoch 1: it holds only epoch-1 recalls
    assert rlc.counts.sum().item() < COUNTS.sum().item() + 2 * 16 * 6


def test_rlc_start_epoch_and_ema_threshold():
    z, y = _batch(5, b=16)
    z = z + 2.0
    late = ReflectiveLabelCorrector(COUNTS, start_epoch=1)
    late(z, y, 0)
    assert late.last_recalled.sum() == 0
    ema = ReflectiveLabelCorrector(COUNTS, threshold="ema", threshold_momentum=0.5)
    p1 = torch.sigmoid(z - (y == 1).double()).mean(0)
    ema(z, y, 0)
    assert torch.allclose(ema.mean_probability, p1)
    z2 = z.flip(0) * 0.5
    p2 = torch.sigmoid(z2 - (y == 1).double()).mean(0)
    ema(z2, y, 0)
    assert torch.allclose(ema.mean_probability, 0.5 * p1 + 0.5 * p2)
    with pytest.raises(ValueError, match="threshold"):
        ReflectiveLabelCorrector(COUNTS, threshold="past")


def test_htb_matches_reference_and_only_z_b_gets_gradient():
    zh, y = _batch(20)
    zt, _ = _batch(21)
    zb, _ = _batch(22)
    mfm = MultiFocalModifier(COUNTS)
    htb = HeadTailBalancer(mfm)
    zh.requires_grad_(True)
    zt.requires_grad_(True)
    zb.requires_grad_(True)
    out = htb(zh, zt, zb, y)
    want = ref_htb(zh.tolist(), zt.tolist(), zb.tolist(), y.tolist(), COUNTS.tolist())
    assert out.item() == pytest.approx(want, rel=1e-6)
    kh, kt = htb.kappa(zh, zt, y)
    lh, lt = mfm(zh, y).item(), mfm(zt, y).item()
    assert kh.item() == pytest.approx(lh**2 / (lh**2 + lt**2))
    assert (kh + kt).item() == pytest.approx(1.0)
    out.backward()
    assert zh.grad is None and zt.grad is None
    assert zb.grad is not None and zb.grad.abs().sum() > 0


def test_gradcheck_float64():
    """With the focusing factor attached (the detached default is not the function's gradient)."""
    z, y = _batch(7, b=5, c=6)
    z = z.clone().requires_grad_(True)
    mfm_a = MultiFocalModifier(COUNTS, detach_focusing=False)
    mfm_b = MultiFocalModifier(
        COUNTS, variant="B", cooccurrence=torch.as_tensor(_cooc()), detach_focusing=False
    )
    rlc = ReflectiveLabelCorrector(COUNTS, detach_focusing=False)
    assert torch.autograd.gradcheck(lambda x: mfm_a(x, y), (z,))
    assert torch.autograd.gradcheck(lambda x: mfm_b(x, y), (z,))
    # a fresh copy per call: RLC's dynamic distribution changes with every call
    assert torch.autograd.gradcheck(lambda x: copy.deepcopy(rlc)(x, y, 0), (z,))
    zh, zt = torch.randn(5, 6, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64)
    htb = HeadTailBalancer(mfm_a)
    assert torch.autograd.gradcheck(lambda x: htb(zh, zt, x, y), (z,))


def test_detached_focusing_factor_gradient():
    """d/dz of w·log(q⁻)·sg[(1−q⁻)^γ] for a negative entry, by hand."""
    z = torch.tensor([[0.3]], dtype=torch.float64, requires_grad=True)
    counts = torch.tensor([5])
    MultiFocalModifier(counts)(z, torch.tensor([[0]])).backward()
    p = _sig(0.3)
    q = 1 - p + 0.05
    gamma = 4.0 + 1.0  # w = 1 for the largest class
    assert z.grad.item() == pytest.approx(-(1.0 / q) * (-p * (1 - p)) * (1 - q) ** gamma)


def test_no_positive_batches_are_finite():
    z = torch.randn(8, 6, dtype=torch.float64, requires_grad=True)
    for fill in (0, -1):
        y = torch.full((8, 6), fill)
        losses = [
            MultiFocalModifier(COUNTS)(z, y),
            MultiFocalModifier(COUNTS, variant="B", cooccurrence=torch.as_tensor(_cooc()))(z, y),
            ReflectiveLabelCorrector(COUNTS)(z, y, 0),
            ReflectiveLabelCorrector(COUNTS)(z - 20, y, 0),  # nothing recalled: N_t = 0
            HeadTailBalancer(MultiFocalModifier(COUNTS))(z, z, z, y),
        ]
        for loss in losses:
            assert torch.isfinite(loss)
            (g,) = torch.autograd.grad(loss, z)
            assert torch.isfinite(g).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_logits_are_finite(dtype):
    z = (torch.randn(16, 6) * 30).to(dtype).requires_grad_(True)
    y = torch.randint(-1, 2, (16, 6))
    mfm = MultiFocalModifier(COUNTS, variant="B", cooccurrence=torch.as_tensor(_cooc()))
    for loss in (
        mfm(z, y),
        ReflectiveLabelCorrector(COUNTS)(z, y, 0),
        HeadTailBalancer(mfm)(z, z, z, y),
    ):
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        (g,) = torch.autograd.grad(loss, z)
        assert torch.isfinite(g.float()).all()


# ---------------------------------------------------------------- head
def _np_normalized_logits(f, w, groups, rho=16.0, eta=1 / 32):
    B, d = f.shape
    C = w.shape[0]
    size = d // groups
    z = np.zeros((B, C))
    for k in range(groups):
        fk = f[:, k * size : (k + 1) * size]
        wk = w[:, k * size : (k + 1) * size]
        fk = fk / np.linalg.norm(fk, axis=1, keepdims=True)
        wk = wk / (np.linalg.norm(wk, axis=1, keepdims=True) + eta)
        z += fk @ wk.T
    return z * rho / groups


def _np_adjusted_logits(f, w, e, a, groups, rho=16.0, eta=1 / 32):
    B, d = f.shape
    size = d // groups
    z = np.zeros((B, w.shape[0]))
    for k in range(groups):
        fk = f[:, k * size : (k + 1) * size]
        fk = fk / np.linalg.norm(fk, axis=1, keepdims=True)
        ek = e[k * size : (k + 1) * size] / np.linalg.norm(e[k * size : (k + 1) * size])
        wk = w[:, k * size : (k + 1) * size]
        wk = wk / (np.linalg.norm(wk, axis=1, keepdims=True) + eta)
        cos = fk @ ek
        z += (fk + a * cos[:, None] * ek[None, :]) @ wk.T
    return z * rho / groups


@pytest.mark.parametrize("groups", [1, 2])
def test_normalized_classifier_and_adjusted_logits(groups):
    torch.manual_seed(0)
    cls = NormalizedClassifier(8, 5, groups=groups).double()
    f = torch.randn(4, 8, dtype=torch.float64)
    e = torch.randn(8, dtype=torch.float64)
    w = cls.weight.detach().numpy()
    z = cls(f)
    np.testing.assert_allclose(
        z.detach().numpy(), _np_normalized_logits(f.numpy(), w, groups), rtol=1e-10
    )
    for a in (-1.0, 2.0):
        want = _np_adjusted_logits(f.numpy(), w, e.numpy(), a, groups)
        got = cls.adjusted(f, z, e, a).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10)
        z_both, zhat_both = cls.with_adjusted(f, e, a)  # the head's shared-normalisation path
        np.testing.assert_allclose(zhat_both.detach().numpy(), want, rtol=1e-10)
        np.testing.assert_allclose(z_both.detach().numpy(), z.detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="divide"):
        NormalizedClassifier(9, 5, groups=2)


def test_moving_average_updates_in_train_mode_only():
    torch.manual_seed(0)
    head = ComicHead(6, 4, hidden=8)
    x = torch.randn(5, 6)
    head.eval()
    head(x)
    assert torch.all(head.e_head == 0) and torch.all(head.e_tail == 0)
    head.train()
    head(x)
    head(x)
    for branch, e in (("head", head.e_head), ("tail", head.e_tail)):
        lin = head.projection[branch]
        f = torch.log_softmax(x @ lin.weight.T + lin.bias, dim=1).mean(0).detach()
        assert torch.allclose(e, 0.9 * f + f, atol=1e-6)
    before = head.e_head.clone()
    head.eval()
    out = head(x)
    assert torch.equal(head.e_head, before)
    want = _np_adjusted_logits(
        torch.log_softmax(head.projection["head"](x), 1).detach().double().numpy(),
        head.classifier["head"].weight.detach().double().numpy(),
        before.double().numpy(),
        -1.0,
        1,
    )
    np.testing.assert_allclose(out["zhat_head"].detach().numpy(), want, rtol=1e-4, atol=1e-5)


def test_attention_modes():
    torch.manual_seed(0)
    x = torch.randn(3, 6)
    plain = ComicHead(6, 4, hidden=8, attention="none")
    for mode in ("trained", "frozen", "eval_only"):
        head = ComicHead(6, 4, hidden=8, attention=mode, attention_dropout=0.0)
        head.load_state_dict(plain.state_dict(), strict=False)
        head.eval()
        assert not torch.allclose(head(x)["logits"], plain.eval()(x)["logits"])
        head.train()
        plain.train()
        same = torch.allclose(head(x)["logits"], plain(x)["logits"])
        assert same == (mode == "eval_only")
        trainable = any(p.requires_grad for p in head.attention.parameters())
        assert trainable == (mode == "trained")
    with pytest.raises(ValueError, match="attention"):
        ComicHead(6, 4, attention="always")


# ---------------------------------------------------------------- method
def _labels(n=200, c=6, seed=0):
    rng = np.random.default_rng(seed)
    full = (rng.random((n, c)) < np.linspace(0.5, 0.05, c)).astype(np.int64)
    obs = np.where((full == 1) & (rng.random((n, c)) < 0.4), 0, full)
    return LabelSet.from_dense(obs), LabelSet.from_dense(full)


def _setup(name="comic", n=200, c=6, d=10, **params):
    obs, full = _labels(n, c)
    method = methods.create(name, hidden=16, **params)
    head = method.build_head(d, c)
    method.setup(TrainContext(obs, epochs=2, steps_per_epoch=4, full_train_labels=full))
    return method, head, obs, full


def test_registry_and_validation():
    assert {"comic", "comic-pfm", "comic-code"} <= set(methods.available())
    assert methods.create("comic-pfm").mfm_variant == "B"
    code = methods.create("comic-code")
    assert (code.balance, code.head_options["attention"]) == ("irm", "eval_only")
    for bad in (
        {"balance": "xerm"},
        {"mfm_variant": "a"},
        {"predict_branch": "both"},
        {"lr_steps": "imagenet"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            methods.create("comic", **bad)
    with pytest.raises(ValueError, match="unknown parameter"):
        methods.create("comic", gamma=2)


def test_balanced_loss_never_reaches_head_or_tail_parameters():
    method, head, obs, _ = _setup()
    x = torch.randn(8, 10)
    y = torch.as_tensor(obs.rows(np.arange(8)))
    out = head(x)
    mfm = method.htb.loss
    balanced = mfm(out["logits"], y) + 0.2 * method.rlc["balanced"](out["logits"], y, 0)
    balanced = balanced + 0.5 * method.htb(out["zhat_head"], out["zhat_tail"], out["logits"], y)
    balanced.backward()
    for b in ("head", "tail"):
        assert head.projection[b].weight.grad is None
        assert head.classifier[b].weight.grad is None
    assert head.projection["balanced"].weight.grad.abs().sum() > 0
    assert head.attention.query.weight.grad.abs().sum() > 0
    head.zero_grad(set_to_none=True)
    own = mfm(head(x)["z_head"], y)
    own.backward()
    assert head.projection["balanced"].weight.grad is None


@pytest.mark.parametrize("name", ["comic", "comic-pfm", "comic-code"])
def test_total_loss_equals_sum_of_parts(name):
    method, head, obs, _ = _setup(name)
    ref = copy.deepcopy(method)
    x = torch.randn(8, 10)
    y = torch.as_tensor(obs.rows(np.arange(8)))
    head.eval()  # no dropout, no moving-average change
    out = head(x)
    total = method.loss(out, y, torch.arange(8), 0)
    mfm = ref.htb.loss
    parts = sum(mfm(out[k], y) for k in ("z_head", "z_tail", "logits"))
    parts = parts + 0.2 * (
        ref.rlc["head"](out["zhat_head"], y, 0)
        + ref.rlc["tail"](out["zhat_tail"], y, 0)
        + ref.rlc["balanced"](out["logits"], y, 0)
    )
    if name == "comic-code":
        parts = parts + sum(mfm(out[k], y) for k in ("z_head", "z_tail", "logits")) / 3
    else:
        parts = parts + 0.5 * ref.htb(out["zhat_head"], out["zhat_tail"], out["logits"], y)
    assert total.item() == pytest.approx(parts.item(), rel=1e-6)


def test_logits_branch_and_param_groups():
    method, head, _, _ = _setup(predict_branch="tail")
    out = head(torch.randn(2, 10))
    assert method.logits(out) is out["zhat_tail"]
    groups = {g["name"]: g for g in method.param_groups(head, 1e-3)}
    assert groups["classifier.head"]["lr"] == pytest.approx(1e-4)
    assert groups["attention"]["lr"] == pytest.approx(1e-3)
    assert (
        groups["projection.balanced"]["step_size"],
        groups["classifier.balanced"]["step_size"],
    ) == (12, 18)
    assert groups["projection.head"]["step_size"] == 24
    n_params = sum(p.numel() for g in groups.values() for p in g["params"])
    assert n_params == sum(p.numel() for p in head.parameters())
    voc, head2, _, _ = _setup(lr_steps="voc", attention="eval_only")
    names = {g["name"]: g["step_size"] for g in voc.param_groups(head2, 1.0)}
    assert "attention" not in names and names["projection.tail"] == 24
    none, head3, _, _ = _setup(lr_steps="none")
    assert all("step_size" not in g for g in none.param_groups(head3, 1.0))


def test_state_dict_round_trip_gives_identical_next_loss():
    method, head, obs, full = _setup(rlc_threshold="ema")
    opt = torch.optim.Adam(head.parameters(), 1e-2)
    for step in range(3):
        torch.manual_seed(step)
        x = torch.randn(16, 10) + 1.0
        idx = torch.arange(16) + 16 * step
        loss = method.loss(head(x), torch.as_tensor(obs.rows(idx.numpy())), idx, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    saved_m, saved_h = copy.deepcopy(method.state_dict()), copy.deepcopy(head.state_dict())
    method2 = methods.create("comic", hidden=16, rlc_threshold="ema")
    head2 = method2.build_head(10, 6)
    method2.setup(TrainContext(obs, epochs=2, steps_per_epoch=4, full_train_labels=full))
    method2.load_state_dict(saved_m)
    head2.load_state_dict(saved_h)
    x = torch.randn(16, 10) + 1.0
    idx = torch.arange(16) + 48
    y = torch.as_tensor(obs.rows(idx.numpy()))
    torch.manual_seed(7)
    a = method.loss(head(x), y, idx, 0)
    torch.manual_seed(7)
    b = method2.loss(head2(x), y, idx, 0)
    assert a.item() == b.item()
    assert method.diagnostics() == method2.diagnostics()
    assert torch.equal(method.rlc["balanced"].counts, method2.rlc["balanced"].counts)


def test_diagnostics_precision_and_recall():
    obs = LabelSet.from_dense([[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    full = LabelSet.from_dense([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    method = methods.create("comic", hidden=4, tau=0.5, margin=0.0)
    head = method.build_head(3, 3)
    method.setup(TrainContext(obs, epochs=1, steps_per_epoch=1, full_train_labels=full))
    # class 1 recalled in both rows (true), class 2 in row 0 (false); class 0 stays low
    z = torch.tensor([[5.0, 5.0, 5.0], [-5.0, 5.0, -5.0], [-5.0, -5.0, -5.0]])
    outputs = {k: z for k in ("logits", "z_head", "zhat_head", "z_tail", "zhat_tail")}
    method.loss(outputs, torch.as_tensor(obs.to_dense()), torch.tensor([0, 1, 2]), 0)
    diag = method.diagnostics()
    assert diag["recalled_balanced"] == 3
    assert diag["recalled_precision_balanced"] == pytest.approx(2 / 3)
    assert diag["recalled_recall_balanced"] == pytest.approx(2 / 3)
    del head
    method.loss(outputs, torch.as_tensor(obs.to_dense()), torch.tensor([0, 1, 2]), 1)
    assert method.diagnostics()["recalled_head"] == 3  # reset at the new epoch


def test_training_on_synthetic_features_raises_map():
    rng = np.random.default_rng(0)
    n, c, d = 600, 8, 32
    rates = np.linspace(0.45, 0.04, c)
    full = (rng.random((n, c)) < rates).astype(np.int64)
    full[full.sum(1) == 0, 0] = 1
    protos = rng.normal(size=(c, d))
    x = torch.as_tensor(full @ protos + 0.8 * rng.normal(size=(n, d)), dtype=torch.float32)
    obs = np.where((full == 1) & (rng.random((n, c)) < 0.4), 0, full)
    train, test = slice(0, 400), slice(400, n)
    torch.manual_seed(0)
    method = methods.create("comic", hidden=64)
    head = method.build_head(d, c)
    method.setup(TrainContext(LabelSet.from_dense(obs[train]), epochs=8, steps_per_epoch=12))
    opt = torch.optim.Adam(method.param_groups(head, 3e-3), weight_decay=1e-4)

    def test_map():
        head.eval()
        with torch.no_grad():
            scores = method.logits(head(x[test])).numpy()
        head.train()
        return average_precision_score(full[test], scores, average="macro")

    before = test_map()
    y_all = torch.as_tensor(obs)
    for epoch in range(8):
        perm = torch.randperm(400)
        for k in range(0, 400 - 31, 32):
            idx = perm[k : k + 32]
            loss = method.loss(head(x[idx]), y_all[idx], idx, epoch)
            assert torch.isfinite(loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = test_map()
    assert after > before + 0.2 and after > 0.8


@pytest.mark.parametrize("name", ["comic", "comic-pfm"])
def test_method_under_bf16_autocast_is_finite(name):
    method, head, obs, _ = _setup(name)
    x = torch.randn(16, 10) * 10
    y = torch.as_tensor(obs.rows(np.arange(16)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = method.loss(head(x), y, torch.arange(16), 0)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_pfm_prior_from_sparse_labels_equals_the_dense_formula():
    """Setup builds M̃ from a sparse YᵀY (dense and sparse label sets); compare with numpy."""
    obs, _ = _labels(c=7)
    dense = obs.to_dense()
    dense[:, 5] = np.minimum(dense[:, 5], 0)  # a class never observed: zero column in M̃
    y = (dense == 1).astype(np.float64)
    m = y.T @ y
    col = m.sum(0)
    want = np.where(col > 0, m / np.where(col > 0, col, 1), 0).astype(np.float32)
    for labels in (LabelSet.from_dense(dense), LabelSet.from_dense(dense).to_sparse()):
        method = methods.create("comic-pfm", hidden=8)
        method.setup(TrainContext(labels, epochs=1, steps_per_epoch=1))
        np.testing.assert_array_equal(method.htb.loss.prior.numpy(), want)
    dense_mfm = MultiFocalModifier(COUNTS, variant="B", cooccurrence=torch.as_tensor(_cooc()))
    sparse_mfm = MultiFocalModifier(
        COUNTS, variant="B", cooccurrence=torch.as_tensor(_cooc()).double().to_sparse()
    )
    assert torch.equal(dense_mfm.prior, sparse_mfm.prior)
    with pytest.raises(ValueError, match="C×C"):
        MultiFocalModifier(COUNTS, variant="B", cooccurrence=torch.ones(6, 5).to_sparse())


def _sum_form_mfm_a(z, y, w):
    """Spec §3 sum form, written out: −Σ w[t ln q⁺ + (1−t) ln q⁻]·sg[(1 − q_t)^γ]."""
    t = (y == 1).double()
    p = torch.sigmoid(z)
    q_pos, q_neg = p, (1 - p + 0.05).clamp(max=1)
    ll = t * torch.log(q_pos.clamp_min(EPS)) + (1 - t) * torch.log(q_neg.clamp_min(EPS))
    q_t = (t * q_pos + (1 - t) * q_neg).detach()
    gamma = t * 0.0 + (1 - t) * (4.0 + w)
    return -(w * ll * (1 - q_t) ** gamma).sum()


def test_detached_gradient_equals_the_sum_form():
    z, y = _batch(30, b=16)
    z = (z * 3).requires_grad_(True)  # saturated sigmoids reach the clamps
    w = (1 - torch.log(COUNTS.double().clamp_min(1) / COUNTS.max())) ** (1 / 6)
    (g_ref,) = torch.autograd.grad(_sum_form_mfm_a(z, y, w), z)
    (g,) = torch.autograd.grad(MultiFocalModifier(COUNTS)(z, y), z)
    torch.testing.assert_close(g, g_ref, rtol=1e-6, atol=1e-12)
    method, head, obs, _ = _setup()
    out = head(torch.randn(3, 10))
    with pytest.raises(ValueError, match="targets"):
        method.loss(out, torch.full((3, 6), 2), torch.arange(3), 0)
