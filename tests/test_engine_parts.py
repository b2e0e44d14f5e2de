"""Engine pieces checked against hand computations: schedules, decay groups, EMA, datasets,
backbones, checkpoints."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from palt.data.datasets import ArrayImageDataset, FeatureDataset, collate
from palt.engine.checkpoint import CheckpointStore, flat_tensors, split_tensors
from palt.engine.config import ScheduleConfig
from palt.engine.optim import EMA, build_scheduler, lr_factor, split_decay
from palt.labels import LabelSet
from palt.models import create_backbone


def _labels(n, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return LabelSet.from_dense(rng.choice([1, 0, -1], size=(n, c)))


def test_schedule_factors_match_the_formulas():
    cos = ScheduleConfig(name="cosine", warmup_epochs=1)
    # 4 steps per epoch, 12 steps: warm-up over steps 0..3, then cosine over 8 steps
    assert lr_factor(cos, 0, 4, 12, None) == pytest.approx(1 / 4)
    assert lr_factor(cos, 3, 4, 12, None) == pytest.approx(1.0)
    assert lr_factor(cos, 4, 4, 12, None) == pytest.approx(1.0)
    assert lr_factor(cos, 8, 4, 12, None) == pytest.approx(0.5)  # halfway: ½(1 + cos π/2)
    assert lr_factor(cos, 12, 4, 12, None) == pytest.approx(0.0, abs=1e-12)
    step = ScheduleConfig(name="step", step_size=2, gamma=0.5)
    assert [lr_factor(step, s, 3, 30, None) for s in (0, 5, 6, 12)] == [1, 1, 0.5, 0.25]
    one = ScheduleConfig(name="onecycle", pct_start=0.25, div_factor=10, final_div_factor=100)
    assert lr_factor(one, 0, 10, 100, None) == pytest.approx(0.1)
    assert lr_factor(one, 25, 10, 100, None) == pytest.approx(1.0)
    assert lr_factor(one, 100, 10, 100, None) == pytest.approx(1e-3)
    mid = 0.5 * (1 + math.cos(math.pi * 0.5))  # halfway down from 1 to 1e-3
    assert lr_factor(one, 25 + 75 // 2, 10, 100, None) == pytest.approx(
        1e-3 + (1 - 1e-3) * mid, rel=0.05
    )


def test_groups_with_step_size_decay_tenfold_per_step():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    opt = torch.optim.SGD(
        [
            {"params": a.parameters(), "lr": 1.0},
            {"params": b.parameters(), "lr": 0.5, "step_size": 2},
        ],
        lr=1.0,
    )
    sched = build_scheduler(ScheduleConfig(name="none"), opt, steps_per_epoch=3, epochs=6)
    lrs = []
    for _ in range(3 * 5):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    by_epoch = lrs[::3]
    assert [r[0] for r in by_epoch] == [1.0] * 5
    assert [r[1] for r in by_epoch] == pytest.approx([0.5, 0.5, 0.05, 0.05, 0.005])


def test_weight_decay_skips_biases_and_norms_and_keeps_group_keys():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    groups = split_decay([{"params": list(net.parameters()), "lr": 0.1, "step_size": 3}], 0.01)
    assert len(groups) == 2
    decayed, plain = groups
    assert [p.shape for p in decayed["params"]] == [torch.Size([4, 3])]
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert len(plain["params"]) == 3  # linear bias, norm weight, norm bias
    assert decayed["step_size"] == plain["step_size"] == 3 and plain["lr"] == 0.1


def test_ema_is_the_exponential_average():
    net = nn.Linear(1, 1, bias=False)
    ema = EMA(net, decay=0.5)
    values = [float(net.weight.detach())]
    for v in (2.0, 4.0):
        with torch.no_grad():
            net.weight.fill_(v)
        ema.update(net)
        values.append(v)
    expected = 0.25 * values[0] + 0.25 * values[1] + 0.5 * values[2]
    assert float(ema.module.weight) == pytest.approx(expected)


def test_feature_dataset_densifies_sparse_batches():
    dense = np.random.default_rng(0).random((6, 5)).astype(np.float32)
    dense[dense < 0.6] = 0
    labels = _labels(6)
    ds = FeatureDataset(sp.csr_matrix(dense), labels)
    x, y, idx = collate(ds.__getitems__([4, 1, 4]))
    np.testing.assert_array_equal(x.numpy(), dense[[4, 1, 4]])
    np.testing.assert_array_equal(y.numpy(), labels.to_dense()[[4, 1, 4]])
    assert y.dtype == torch.int8 and idx.tolist() == [4, 1, 4]
    x1, y1, i1 = ds[2]
    np.testing.assert_array_equal(x1.numpy(), dense[2])
    assert int(i1) == 2 and ds.input_shape == (5,)
    with pytest.raises(ValueError, match="5 feature rows for 6 labelled samples"):
        FeatureDataset(dense[:5], labels)


def test_array_images_scaling_and_augmentation():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 6, 7, 3), dtype=np.uint8)
    plain = ArrayImageDataset(images, _labels(4))
    x, _, _ = plain.__getitems__([2])
    assert x.shape == (1, 3, 6, 7)
    assert float(x[0, 1, 2, 3]) == pytest.approx(images[2, 2, 3, 1] / 127.5 - 1)

    aug = ArrayImageDataset(images, _labels(4), crop_padding=2, flip=True, seed=3)
    first = aug.__getitems__([0, 1, 2, 3])[0]
    again = aug.__getitems__([3, 2, 1, 0])[0]
    np.testing.assert_array_equal(first.numpy(), again.numpy()[::-1])  # depends on index only
    aug.set_epoch(1)
    assert not torch.equal(aug.__getitems__([0, 1, 2, 3])[0], first)
    # every augmented image is a (possibly mirrored) 6×7 window of the black-padded image
    base = plain.__getitems__([0, 1, 2, 3])[0]
    padded = torch.nn.functional.pad(base, (2, 2, 2, 2), value=-1.0)
    for k in range(4):
        windows = [padded[k, :, dy : dy + 6, dx : dx + 7] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(first[k], w) or torch.equal(first[k], w.flip(-1)) for w in windows)


def test_backbones():
    cnn, dim = create_backbone("cnn", input_shape=(1, 16, 16), widths=[4, 8])
    assert dim == 8 and cnn(torch.zeros(2, 1, 16, 16)).shape == (2, 8)
    mlp, dim = create_backbone("mlp", input_shape=(5,), hidden=[7, 3])
    assert dim == 3 and mlp(torch.zeros(2, 5)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"backbone 'cnn': unknown parameter\(s\) \['depth'\]"):
        create_backbone("cnn", input_shape=(1, 8, 8), depth=3)
    with pytest.raises(ValueError, match="needs C×H×W images"):
        create_backbone("cnn", input_shape=(10,))


def test_checkpoint_round_trip_without_pickle(tmp_path):
    store = CheckpointStore(tmp_path / "ck")
    net = nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    tensors = flat_tensors(network=net.state_dict(), method={"prior": torch.tensor([0.5, 0.25])})
    store.save(
        "step-00000001", tensors, {"optimizer": opt.state_dict()}, {"progress": {"epoch": 0}}
    )
    store.save(
        "step-00000002", tensors, {"optimizer": opt.state_dict()}, {"progress": {"epoch": 1}}
    )
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["last.json", "step-00000002"]
    ck = store.load(store.latest())
    assert ck.state["progress"] == {"epoch": 1}
    assert torch.equal(split_tensors(ck.tensors, "method")["prior"], torch.tensor([0.5, 0.25]))
    fresh = torch.optim.Adam(nn.Linear(3, 2).parameters())
    fresh.load_state_dict(ck.optim["optimizer"])
    assert fresh.state_dict()["state"][0]["step"] == 1
