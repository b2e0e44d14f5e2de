"""Baseline methods: registration, defaults, the Large-Loss schedules, and LL-Cp's permanent
label flips (stored in a buffer, used by later batches, exact through state_dict)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import palt.methods as pm
from palt.labels import LabelSet
from palt.methods import TrainContext

BASELINES = [
    "asl",
    "bce",
    "bce-ignore",
    "focal",
    "hill",
    "ll-cp",
    "ll-ct",
    "ll-r",
    "ls",
    "splc",
    "wan",
]


def test_every_baseline_is_registered():
    assert set(BASELINES) <= set(pm.available())


def test_bce_and_preset_defaults():
    assert pm.create("bce").hyperparameters()["unknown"] == "negative"
    assert pm.create("bce-ignore").hyperparameters()["unknown"] == "ignore"
    assert pm.create("bce-ignore", reduction="sum").hyperparameters()["reduction"] == "sum"
    z = torch.randn(3, 4, requires_grad=True)
    y = torch.tensor([[1, -1, 0, -1], [-1, -1, 1, 0], [0, 1, -1, -1]])
    pm.create("bce-ignore").loss(z, y, torch.arange(3), 0).backward()
    assert torch.all(z.grad[y == -1] == 0) and torch.all(z.grad[y != -1] != 0)
    # assume-negative BCE = torch's BCE on 0/1 targets with unknown → 0, mean over B·C
    expected = F.binary_cross_entropy_with_logits(z, y.clamp(min=0).float())
    assert pm.create("bce").loss(z, y, torch.arange(3), 0).item() == pytest.approx(expected.item())


def test_defaults_documented_in_the_brief():
    asl = pm.create("asl").hyperparameters()
    assert (asl["gamma_pos"], asl["gamma_neg"], asl["clip"], asl["reduction"]) == (
        0.0,
        4.0,
        0.05,
        "sum",
    )
    assert pm.create("splc").hyperparameters()["tau"] == 0.6
    assert pm.create("ll-r").hyperparameters()["delta_rel"] == 0.2


def test_bad_parameters_name_the_parameter():
    with pytest.raises(ValueError, match="unknown parameter"):
        pm.create("asl", gamma=2)
    with pytest.raises(ValueError, match="unknown must be"):
        pm.create("bce", unknown="skip")
    with pytest.raises(ValueError, match="delta_rel"):
        pm.create("ll-cp", delta_rel=0)


@pytest.mark.parametrize("name", [n for n in BASELINES if n != "ll-cp"])
def test_methods_accept_dict_outputs_and_train(name):
    method = pm.create(name)
    head = method.build_head(6, 4)
    x = torch.randn(5, 6)
    y = torch.tensor([[1, -1, 0, -1]] * 5)
    loss = method.loss({"logits": head(x)}, y, torch.arange(5), 2)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(p.grad is not None for p in head.parameters())


def test_splc_uses_the_epoch():
    z = torch.tensor([[2.0, -1.0, 0.5, -3.0]])
    y = torch.tensor([[1, -1, -1, 1]])
    m = pm.create("splc")
    assert m.loss(z, y, torch.arange(1), 0).item() == pytest.approx(4.297635, abs=1e-5)
    assert m.loss(z, y, torch.arange(1), 1).item() == pytest.approx(3.987796, abs=1e-5)


# ---------------------------------------------------------------- Large Loss schedules


def test_large_loss_schedules():
    r, cp = pm.create("ll-r", delta_rel=0.3), pm.create("ll-cp", delta_rel=0.3)
    assert r.fraction(0) == 0 and r.fraction(1) == pytest.approx(0.003)
    assert r.fraction(4) == pytest.approx(0.012)
    assert cp.fraction(0) == 0 and cp.fraction(1) == cp.fraction(7) == pytest.approx(0.003)


def test_ll_r_first_epoch_is_plain_assume_negative():
    z = torch.randn(6, 5)
    y = torch.randint(-1, 2, (6, 5))
    expected = F.binary_cross_entropy_with_logits(z, y.clamp(min=0).float()).item()
    for name in ("ll-r", "ll-ct"):
        assert pm.create(name, delta_rel=50).loss(z, y, torch.arange(6), 0).item() == pytest.approx(
            expected
        )


def test_ll_r_rejects_the_right_number_of_entries():
    torch.manual_seed(0)
    z = torch.randn(10, 20) * 3
    y = torch.full((10, 20), -1)
    y[:, 0] = 1
    method = pm.create("ll-r", delta_rel=1.0)  # epoch 3 → 3 % of 200 entries = 6 rejected
    full = F.binary_cross_entropy_with_logits(z, y.clamp(min=0).float(), reduction="none")
    unk = full[y == -1].sort(descending=True).values
    expected = (full.sum() - unk[:6].sum()) / 200
    assert method.loss(z, y, torch.arange(10), 3).item() == pytest.approx(expected.item(), rel=1e-6)


# ---------------------------------------------------------------- LL-Cp permanent correction


def slow_ll_step(logits: torch.Tensor, labels: np.ndarray, fraction: float):
    """Reference from the formula: (loss, entries strictly above the k-th largest unknown loss)."""
    b, c = labels.shape
    z = logits.detach().double().tolist()

    def bce(a, t):
        return math.log1p(math.exp(-a)) if t == 1 else math.log1p(math.exp(a))

    base = [[bce(z[i][j], labels[i, j]) for j in range(c)] for i in range(b)]
    unk = [(i, j) for i in range(b) for j in range(c) if labels[i, j] == -1]
    k = min(math.ceil(b * c * fraction - 1e-9), len(unk))
    total, above = 0.0, []
    t = sorted((base[i][j] for i, j in unk), reverse=True)[k - 1] if k > 0 else math.inf
    for i in range(b):
        for j in range(c):
            v = base[i][j]
            if labels[i, j] == -1 and v >= t:
                v = bce(z[i][j], 1)
            if labels[i, j] == -1 and base[i][j] > t:
                above.append((i, j))
            total += v
    return total / (b * c), above


def tiny_problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(-1, 2, (8, 5), generator=g).numpy()
    labels[labels == 0] = -1  # mostly unknown, a few positives …
    labels[0, 4] = 0  # … and one annotated negative
    features = torch.randn(8, 4, generator=g)
    ctx = TrainContext(train_labels=LabelSet.from_dense(labels), epochs=3, steps_per_epoch=2)
    return labels, features, ctx


def test_ll_cp_flips_stored_labels_and_later_batches_use_them():
    labels, features, ctx = tiny_problem()
    method = pm.create("ll-cp", delta_rel=10)  # B·C = 20 → k = 2 per batch
    method.setup(ctx)
    torch.manual_seed(0)
    head = method.build_head(4, 5)
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    expected = labels.copy()
    batches = [torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6, 7])]
    total_flips = 0
    for epoch in range(3):
        for idx in batches:
            logits = head(features[idx])
            ref_loss, above = slow_ll_step(logits, expected[idx.numpy()], method.fraction(epoch))
            loader_targets = torch.from_numpy(labels[idx.numpy()])  # the dataset's original rows
            loss = method.loss(logits, loader_targets, idx, epoch)
            assert loss.item() == pytest.approx(ref_loss, rel=1e-5)
            for i, j in above:
                assert expected[idx[i], j] == -1
                expected[idx[i], j] = 1
            total_flips += len(above)
            assert np.array_equal(method.labels.numpy(), expected)
            opt.zero_grad()
            loss.backward()
            opt.step()
        method.on_epoch_end(epoch)
        assert np.array_equal(method.labels.numpy(), expected)
        if epoch == 0:
            assert np.array_equal(method.labels.numpy(), labels)  # first epoch: plain AN
    assert total_flips > 0 and method.diagnostics()["flipped_labels"] == total_flips
    changed = np.argwhere(expected != labels)
    assert all(labels[i, j] == -1 and expected[i, j] == 1 for i, j in changed)
    assert expected[0, 4] == 0  # annotated negatives are never flipped
    # a later batch trains on the flipped labels, not on the loader's targets
    idx = torch.tensor(sorted({int(i) for i, _ in changed}))
    logits = head(features[idx])
    with_flips, _ = slow_ll_step(logits, expected[idx.numpy()], 0.0)
    without, _ = slow_ll_step(logits, labels[idx.numpy()], 0.0)
    got = method.loss(logits, torch.from_numpy(labels[idx.numpy()]), idx, 0).item()
    assert got == pytest.approx(with_flips, rel=1e-5) and got != pytest.approx(without, rel=1e-5)


def test_ll_cp_state_dict_round_trip_gives_identical_next_losses():
    labels, features, ctx = tiny_problem(seed=1)
    torch.manual_seed(1)
    head = torch.nn.Linear(4, 5)
    a = pm.create("ll-cp", delta_rel=10)
    a.setup(ctx)
    idx = torch.arange(8)
    with torch.no_grad():
        a.loss(head(features[idx]) * 3, torch.from_numpy(labels), idx, 1)
    assert int(a.flipped) > 0
    state = st_load(st_save(a.state_dict()))  # only tensors, safetensors-safe
    b = pm.create("ll-cp", delta_rel=10)
    b.setup(ctx)
    b.load_state_dict(state)
    c = pm.create("ll-cp", delta_rel=10)
    c.load_state_dict(state)  # before setup: the buffer takes the stored shape
    for step in range(3):
        rows = torch.tensor([step, step + 4, 7 - step])
        logits = head(features[rows]) * (2 + step)
        targets = torch.from_numpy(labels[rows.numpy()])
        la, lb, lc = (m.loss(logits, targets, rows, 2) for m in (a, b, c))
        assert la.item() == lb.item() == lc.item()
        assert torch.equal(a.labels, b.labels) and torch.equal(a.labels, c.labels)
    assert int(a.flipped) == int(b.flipped)


def test_ll_cp_needs_setup():
    with pytest.raises(RuntimeError, match="setup"):
        pm.create("ll-cp").loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.arange(2), 1)


def test_ll_cp_epoch_end_merges_flips_of_all_processes(monkeypatch):
    import palt.methods.large_loss as ll

    labels, _, ctx = tiny_problem(seed=2)
    method = pm.create("ll-cp")
    method.setup(ctx)
    unknown = np.argwhere(labels == -1)
    mine, theirs = tuple(unknown[0]), tuple(unknown[1])
    method.labels[mine] = 1  # flipped by this process
    method.flipped += 1

    def other_process_adds(t: torch.Tensor) -> None:  # the sum over 2 processes
        other = (torch.from_numpy(labels) == 1).to(t.dtype)
        other[theirs] = 1
        t += other

    monkeypatch.setattr(ll, "all_reduce_sum_", other_process_adds)
    method.on_epoch_end(1)
    expected = labels.copy()
    expected[mine] = expected[theirs] = 1
    assert np.array_equal(method.labels.numpy(), expected)
    assert method.diagnostics()["flipped_labels"] == 2
    monkeypatch.undo()
    method.on_epoch_end(2)  # single process: nothing changes
    assert np.array_equal(method.labels.numpy(), expected) and int(method.flipped) == 2
