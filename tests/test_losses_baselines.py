"""Baseline losses (BCE modes, WAN, LS, focal, ASL, Hill, SPLC, Large Loss) against the worked
examples of specs/losses.md §6.7 and against slow per-element loops written from the formulas."""

from __future__ import annotations

import math

import pytest
import torch

from palt.losses.bce import (
    LabelSmoothingLoss,
    PartialBCELoss,
    WANLoss,
    label_smoothing_loss,
    partial_bce,
    wan_loss,
)
from palt.losses.focal import AsymmetricLoss, FocalLoss, asymmetric_loss, focal_loss
from palt.losses.hill import HillLoss, hill_loss
from palt.losses.large_loss import LargeLoss, large_loss
from palt.losses.splc import SPLCLoss, splc_loss

# ---------------------------------------------------------------- slow references (math module)


def sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def nlog_sig(z: float) -> float:  # −log σ(z)
    return math.log1p(math.exp(-z)) if z > -30 else -z + math.log1p(math.exp(z))


def is_neg(y: int, unknown: str) -> bool:
    return y == 0 or (y == -1 and unknown == "negative")


def ref_bce(z, y, unknown):
    out = []
    for zr, yr in zip(z, y, strict=True):
        n_ann = sum(1 for v in yr if v != -1)
        g = 1.0 / (1 + n_ann) + 1 if unknown == "ignore_normalize" else 1.0
        row = []
        for a, t in zip(zr, yr, strict=True):
            if t == 1:
                row.append(g * nlog_sig(a))
            elif is_neg(t, unknown):
                row.append(g * nlog_sig(-a))
            else:
                row.append(0.0)
        out.append(row)
    return out


def ref_wan(z, y, unknown, weight=None):
    c = len(z[0])
    w = 1.0 / (c - 1) if weight is None else weight
    return [
        [
            nlog_sig(a) if t == 1 else (w * nlog_sig(-a) if is_neg(t, unknown) else 0.0)
            for a, t in zip(zr, yr, strict=True)
        ]
        for zr, yr in zip(z, y, strict=True)
    ]


def ref_ls(z, y, unknown, eps):
    def one(a, t):
        if t == 1:
            return (1 - eps) * -math.log(sig(a)) + eps * -math.log(1 - sig(a))
        if is_neg(t, unknown):
            return (1 - eps) * -math.log(1 - sig(a)) + eps * -math.log(sig(a))
        return 0.0

    return [[one(a, t) for a, t in zip(zr, yr, strict=True)] for zr, yr in zip(z, y, strict=True)]


def ref_focal(z, y, unknown, gamma, alpha):
    ap, an = (1.0, 1.0) if alpha is None else (alpha, 1 - alpha)

    def one(a, t):
        p = sig(a)
        if t == 1:
            return -ap * (1 - p) ** gamma * math.log(p)
        if is_neg(t, unknown):
            return -an * p**gamma * math.log(1 - p)
        return 0.0

    return [[one(a, t) for a, t in zip(zr, yr, strict=True)] for zr, yr in zip(z, y, strict=True)]


def ref_asl(z, y, unknown, gp, gn, clip, eps=1e-8):
    def one(a, t):
        p = sig(a)
        if t == 1:
            return -((1 - p) ** gp) * math.log(max(p, eps))
        if is_neg(t, unknown):
            pm = max(p - clip, 0.0)
            return -(pm**gn) * math.log(max(1 - pm, eps))
        return 0.0

    return [[one(a, t) for a, t in zip(zr, yr, strict=True)] for zr, yr in zip(z, y, strict=True)]


def ref_hill(z, y, unknown, margin=1.0, gamma=2.0, lamb=1.5):
    def one(a, t):
        if t == 1:
            pm = sig(a - margin)
            return -((1 - pm) ** gamma) * math.log(pm)
        if is_neg(t, unknown):
            p = sig(a)
            return (lamb - p) * p * p
        return 0.0

    return [[one(a, t) for a, t in zip(zr, yr, strict=True)] for zr, yr in zip(z, y, strict=True)]


def ref_splc(z, y, unknown, epoch, margin=1.0, tau=0.6, change=1, gamma=2.0, correct_ann=False):
    def one(a, t):
        if t == 1:
            p = sig(a - margin)
            return -((1 - p) ** gamma) * math.log(p)
        if not is_neg(t, unknown):
            return 0.0
        p = sig(a)
        correctable = t == -1 or correct_ann
        if epoch >= change and correctable and p > tau:
            return -((1 - p) ** gamma) * math.log(p)
        return -(p**gamma) * math.log(1 - p)

    return [[one(a, t) for a, t in zip(zr, yr, strict=True)] for zr, yr in zip(z, y, strict=True)]


def ref_large_loss(z, y, fraction, mode):
    """Returns (per-entry loss matrix, set of (i, c) strictly above the threshold)."""
    b, c = len(z), len(z[0])
    base = [
        [nlog_sig(a) if t == 1 else nlog_sig(-a) for a, t in zip(zr, yr, strict=True)]
        for zr, yr in zip(z, y, strict=True)
    ]
    unk = [(i, j) for i in range(b) for j in range(c) if y[i][j] == -1]
    k = min(math.ceil(b * c * fraction - 1e-9), len(unk))
    out = [row[:] for row in base]
    above = set()
    if k > 0:
        t = sorted((base[i][j] for i, j in unk), reverse=True)[k - 1]
        for i, j in unk:
            if base[i][j] >= t:
                out[i][j] = 0.0 if mode == "reject" else nlog_sig(z[i][j])
            if base[i][j] > t:
                above.add((i, j))
    return out, above


# ---------------------------------------------------------------- helpers


def random_problem(b=6, c=9, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, c, generator=g, dtype=torch.float64) * scale
    y = torch.randint(-1, 2, (b, c), generator=g)
    y[0] = -1  # a row without any annotation
    return z, y


def close(actual: torch.Tensor, expected, tol=1e-6) -> None:
    exp = torch.tensor(expected, dtype=torch.float64)
    assert torch.allclose(actual.double(), exp, atol=tol, rtol=tol), (actual, exp)


# ---------------------------------------------------------------- worked examples (§6.7)

Z_EX = torch.tensor([[2.0, -1.0, 0.5, -3.0]])
Y_EX_ZERO = torch.tensor([[1, 0, 0, 1]])  # the paper's encoding: missing = 0
Y_EX_UNK = torch.tensor([[1, -1, -1, 1]])  # ours: missing = unknown


def test_hill_worked_example():
    expected = [[0.022658, 0.089042, 0.340008, 3.874907]]
    close(hill_loss(Z_EX, Y_EX_ZERO, reduction="none"), expected, 1e-5)
    close(hill_loss(Z_EX, Y_EX_UNK, reduction="none"), expected, 1e-5)
    close(HillLoss()(Z_EX, Y_EX_UNK), [sum(expected[0])], 1e-5)


def test_splc_worked_example_epochs():
    epoch0 = [[0.022658, 0.022658, 0.377412, 3.874907]]
    epoch1 = [[0.022658, 0.022658, 0.067573, 3.874907]]
    close(splc_loss(Z_EX, Y_EX_UNK, 0, reduction="none"), epoch0, 1e-5)
    close(splc_loss(Z_EX, Y_EX_UNK, 1, reduction="none"), epoch1, 1e-5)
    close(splc_loss(Z_EX, Y_EX_UNK, 5, reduction="none"), epoch1, 1e-5)
    # annotated negatives are not corrected unless asked (the paper's 0 meant "missing")
    close(splc_loss(Z_EX, Y_EX_ZERO, 1, reduction="none"), epoch0, 1e-5)
    fixed = splc_loss(Z_EX, Y_EX_ZERO, 1, correct_annotated_negatives=True, reduction="none")
    close(fixed, epoch1, 1e-5)
    close(SPLCLoss()(Z_EX, Y_EX_UNK, 1), [sum(epoch1[0])], 1e-5)


def test_asl_worked_example():
    expected = [[0.126928, 0.000568, 0.091253, 3.048587]]
    close(asymmetric_loss(Z_EX, Y_EX_ZERO, reduction="none"), expected, 1e-5)
    close(AsymmetricLoss()(Z_EX, Y_EX_UNK), [sum(expected[0])], 1e-5)


# ---------------------------------------------------------------- per-element references

CASES = {
    "bce": (
        lambda z, y, u: partial_bce(z, y, u, "none"),
        lambda z, y, u: ref_bce(z, y, u),
    ),
    "wan": (lambda z, y, u: wan_loss(z, y, None, u, "none"), lambda z, y, u: ref_wan(z, y, u)),
    "wan-0.3": (
        lambda z, y, u: wan_loss(z, y, 0.3, u, "none"),
        lambda z, y, u: ref_wan(z, y, u, 0.3),
    ),
    "ls": (
        lambda z, y, u: label_smoothing_loss(z, y, 0.1, u, "none"),
        lambda z, y, u: ref_ls(z, y, u, 0.1),
    ),
    "focal": (
        lambda z, y, u: focal_loss(z, y, 2.0, None, True, u, "none"),
        lambda z, y, u: ref_focal(z, y, u, 2.0, None),
    ),
    "focal-alpha": (
        lambda z, y, u: focal_loss(z, y, 1.5, 0.25, False, u, "none"),
        lambda z, y, u: ref_focal(z, y, u, 1.5, 0.25),
    ),
    "asl": (
        lambda z, y, u: asymmetric_loss(z, y, unknown=u, reduction="none"),
        lambda z, y, u: ref_asl(z, y, u, 0.0, 4.0, 0.05),
    ),
    "asl-1-3-0.1": (
        lambda z, y, u: asymmetric_loss(z, y, 1.0, 3.0, 0.1, unknown=u, reduction="none"),
        lambda z, y, u: ref_asl(z, y, u, 1.0, 3.0, 0.1),
    ),
    "hill": (
        lambda z, y, u: hill_loss(z, y, unknown=u, reduction="none"),
        lambda z, y, u: ref_hill(z, y, u),
    ),
    "splc-0": (
        lambda z, y, u: splc_loss(z, y, 0, unknown=u, reduction="none"),
        lambda z, y, u: ref_splc(z, y, u, 0),
    ),
    "splc-2": (
        lambda z, y, u: splc_loss(z, y, 2, tau=0.3, unknown=u, reduction="none"),
        lambda z, y, u: ref_splc(z, y, u, 2, tau=0.3),
    ),
    "splc-ann": (
        lambda z, y, u: splc_loss(
            z, y, 1, correct_annotated_negatives=True, unknown=u, reduction="none"
        ),
        lambda z, y, u: ref_splc(z, y, u, 1, correct_ann=True),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("unknown", ["negative", "ignore"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_slow_loop(name, unknown, seed):
    fn, ref = CASES[name]
    z, y = random_problem(seed=seed)
    close(fn(z, y, unknown), ref(z.tolist(), y.tolist(), unknown))


def test_bce_ignore_normalize_matches_slow_loop():
    z, y = random_problem(seed=3)
    close(
        partial_bce(z, y, "ignore_normalize", "none"),
        ref_bce(z.tolist(), y.tolist(), "ignore_normalize"),
    )


@pytest.mark.parametrize("mode", ["reject", "correct"])
@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.2, 0.9])
def test_large_loss_matches_slow_loop(mode, fraction):
    z, y = random_problem(b=7, c=8, seed=4)
    out = large_loss(z, y, fraction, mode, reduction="none")
    expected, above = ref_large_loss(z.tolist(), y.tolist(), fraction, mode)
    close(out.loss, expected)
    assert {tuple(ix) for ix in out.above.nonzero().tolist()} == above
    mean = large_loss(z, y, fraction, mode).loss
    close(mean, sum(map(sum, expected)) / (7 * 8))
    assert LargeLoss(mode)(z, y, fraction).item() == pytest.approx(mean.item())


def test_large_loss_never_touches_annotated_entries():
    z = torch.tensor([[9.0, 8.0, -1.0, 0.5]])
    y = torch.tensor([[0, -1, -1, 1]])  # the largest loss is an annotated negative
    out = large_loss(z, y, 0.25, "reject", reduction="none")  # k = 1
    assert out.loss[0, 0] > 0 and out.loss[0, 1] == 0 and out.loss[0, 2] > 0
    assert out.above.sum() == 0  # the k-th itself is not strictly above the threshold
    out = large_loss(z, y, 1.0, "reject", reduction="none")  # k capped at #unknown = 2
    assert out.loss[0, 0] > 0 and out.loss[0, 3] > 0 and out.loss[0, 1:3].abs().sum() == 0


# ---------------------------------------------------------------- reductions


@pytest.mark.parametrize(
    "module",
    [PartialBCELoss, WANLoss, LabelSmoothingLoss, FocalLoss, AsymmetricLoss, HillLoss],
)
def test_reductions_agree_with_the_matrix(module):
    z, y = random_problem(seed=5)
    m = module(reduction="none")(z, y)
    assert module(reduction="sum")(z, y).item() == pytest.approx(m.sum().item())
    assert module(reduction="mean")(z, y).item() == pytest.approx(m.mean().item())
    assert module(reduction="batchmean")(z, y).item() == pytest.approx(m.sum().item() / 6)
    ign = module(unknown="ignore", reduction="annotated_mean")(z, y)
    n_ann = int((y != -1).sum())
    assert ign.item() == pytest.approx(
        module(unknown="ignore", reduction="sum")(z, y).item() / n_ann
    )


def test_documented_default_reductions():
    z, y = random_problem(seed=6)
    assert PartialBCELoss()(z, y).item() == pytest.approx(
        partial_bce(z, y, reduction="sum").item() / z.numel()
    )
    assert AsymmetricLoss()(z, y).item() == pytest.approx(
        asymmetric_loss(z, y, reduction="none").sum().item()
    )
    assert HillLoss()(z, y).item() == pytest.approx(hill_loss(z, y, reduction="none").sum().item())


# ---------------------------------------------------------------- gradients and numerics

IGNORABLE = {
    "bce-ignore": lambda z, y: partial_bce(z, y, "ignore", "sum"),
    "bce-ignore-normalize": lambda z, y: partial_bce(z, y, "ignore_normalize", "sum"),
    "wan": lambda z, y: wan_loss(z, y, unknown="ignore"),
    "ls": lambda z, y: label_smoothing_loss(z, y, unknown="ignore"),
    "focal": lambda z, y: focal_loss(z, y, detach_focal=False, unknown="ignore"),
    "asl": lambda z, y: asymmetric_loss(z, y, detach_focal=False, unknown="ignore"),
    "hill": lambda z, y: hill_loss(z, y, unknown="ignore"),
    "splc": lambda z, y: splc_loss(z, y, 3, tau=0.1, unknown="ignore"),
}


@pytest.mark.parametrize("name", sorted(IGNORABLE))
def test_ignored_unknowns_have_exactly_zero_gradient(name):
    z, y = random_problem(seed=7, scale=20.0)
    z = z.float().requires_grad_()
    IGNORABLE[name](z, y).backward()
    assert torch.all(z.grad[y == -1] == 0)
    assert torch.any(z.grad[y != -1] != 0)


DIFFERENTIABLE = {
    "bce": lambda z, y: partial_bce(z, y, "negative", "sum"),
    "bce-ignore-normalize": lambda z, y: partial_bce(z, y, "ignore_normalize", "sum"),
    "wan": lambda z, y: wan_loss(z, y),
    "ls": lambda z, y: label_smoothing_loss(z, y),
    "focal": lambda z, y: focal_loss(z, y, alpha=0.25, detach_focal=False),
    "asl": lambda z, y: asymmetric_loss(z, y, 1.0, 4.0, 0.05, detach_focal=False),
    "hill": lambda z, y: hill_loss(z, y),
    "splc": lambda z, y: splc_loss(z, y, 2),
    "ll-reject": lambda z, y: large_loss(z, y, 0.1, "reject").loss,
    "ll-correct": lambda z, y: large_loss(z, y, 0.1, "correct").loss,
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_gradcheck_float64(name):
    z, y = random_problem(b=4, c=5, seed=8, scale=1.5)
    z.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: DIFFERENTIABLE[name](t, y), (z,))


# a detached focusing weight makes the gradient differ from the derivative of the value on purpose
NUMERIC = {
    **DIFFERENTIABLE,
    "focal-detached": lambda z, y: focal_loss(z, y),
    "asl-detached": lambda z, y: asymmetric_loss(z, y),
}


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_finite_for_extreme_fp32_logits(name):
    grid = torch.tensor([-100.0, -90.0, -30.0, -3.0, 0.0, 3.0, 30.0, 90.0, 100.0])
    z = grid.repeat(3, 1).clone().requires_grad_()
    y = torch.tensor([1, 0, -1]).repeat_interleave(len(grid)).view(3, -1)
    loss = NUMERIC[name](z, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(torch.isfinite(z.grad))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_finite_for_half_precision_logits(name, dtype):
    z, y = random_problem(b=8, c=16, seed=9, scale=30.0)
    z = z.to(dtype).requires_grad_()
    loss = NUMERIC[name](z, y)
    loss.backward()
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss) and torch.all(torch.isfinite(z.grad.float()))


def test_detach_option_changes_gradient_not_value():
    z, y = random_problem(seed=10)
    a = z.clone().requires_grad_()
    b = z.clone().requires_grad_()
    la, lb = (
        asymmetric_loss(a, y, 1.0, 4.0, 0.0, detach_focal=True),
        asymmetric_loss(b, y, 1.0, 4.0, 0.0, detach_focal=False),
    )
    assert la.item() == pytest.approx(lb.item())
    la.backward()
    lb.backward()
    assert not torch.allclose(a.grad, b.grad)
    # detached focal weight: d/dz of −w·log p with w constant = −w·(1 − p) for a positive
    p = torch.sigmoid(z)
    w = (1 - p) ** 1.0
    pos = y == 1
    assert torch.allclose(a.grad[pos], (-w * (1 - p))[pos])


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: PartialBCELoss(unknown="skip"), "unknown"),
        (lambda: WANLoss(unknown="ignore_normalize"), "unknown"),
        (lambda: FocalLoss(gamma=-1), "gamma"),
        (lambda: FocalLoss(alpha=2), "alpha"),
        (lambda: AsymmetricLoss(clip=1.0), "clip"),
        (lambda: AsymmetricLoss(eps=0), "eps"),
        (lambda: LabelSmoothingLoss(epsilon=1.0), "epsilon"),
        (lambda: SPLCLoss(tau=1.5), "tau"),
        (lambda: HillLoss(reduction="avg"), "reduction"),
        (lambda: LargeLoss(mode="flip"), "mode"),
        (lambda: large_loss(torch.zeros(2, 2), torch.zeros(2, 2), 1.5), "fraction"),
        (lambda: partial_bce(torch.zeros(2, 2), torch.full((2, 2), 2)), "targets"),
    ],
)
def test_bad_parameters_raise_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@pytest.mark.parametrize("gamma", [0, 1, 2, 3, 4, 5, 7, 8, 9, 2.5, 0.5])
def test_power_matches_pow_in_value_and_gradient(gamma):
    from palt.losses.focal import power

    x = torch.rand(50, dtype=torch.float64).requires_grad_()
    y = x.detach().clone().requires_grad_()
    (power(x, gamma) * x).sum().backward()  # "* x": γ = 0 gives a constant without grad_fn
    (y.pow(gamma) * y).sum().backward()
    assert torch.allclose(power(x, gamma), y.pow(gamma))
    assert torch.allclose(x.grad, y.grad)
