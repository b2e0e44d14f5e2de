"""Image-file inputs: the test/train transforms, decode-error policies, training on images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("torchvision")
from PIL import Image  # noqa: E402

from palt.data.benchmark import Benchmark  # noqa: E402
from palt.data.datasets import build_datasets, without_augmentation  # noqa: E402
from palt.data.images import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageDecodeError,
    ImageFileDataset,
    image_transform,
    split_dataset,
)
from vision_helpers import image_benchmark  # noqa: E402


def test_test_transform_is_normalised_pixels_when_no_resize_is_needed(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    got = image_transform(False, size=8, resize=8)(Image.fromarray(arr))
    want = (arr / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(got.numpy(), want.transpose(2, 0, 1), atol=1e-6)


def test_test_transform_centre_crops_after_resizing_the_short_side():
    # a 20×10 (w×h) image: resize(10) keeps it, the centre 10×10 crop is columns 5..14
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[:, :5] = 255
    arr[:, 15:] = 255
    got = image_transform(False, size=10, resize=10, mean=(0, 0, 0), std=(1, 1, 1))(
        Image.fromarray(arr)
    )
    assert got.shape == (3, 10, 10)
    assert float(got.max()) == 0.0
    default = image_transform(False, size=56)(Image.fromarray(arr))
    assert default.shape == (3, 56, 56)


def test_train_transform_is_a_function_of_seed_epoch_index(tmp_path):
    bench = Benchmark.load(image_benchmark(tmp_path))
    ds = split_dataset(bench, "train", {"size": 16}, train=True, seed=3)
    a = ds.__getitems__([0, 1, 2])[0]
    torch.manual_seed(123)  # the global RNG must not matter
    b = ds.__getitems__([2, 0])[0]
    assert torch.equal(a[0], b[1]) and torch.equal(a[2], b[0])
    ds.set_epoch(1)
    c = ds.__getitems__([0, 1, 2])[0]
    assert c.shape == (3, 3, 16, 16)
    assert not torch.equal(a, c)
    plain = without_augmentation(ds)
    assert not plain.augments
    want = image_transform(False, size=16)(Image.open(ds.paths[1]).convert("RGB"))
    assert torch.equal(plain.__getitems__([1])[0][0], want)


def test_skip_policy_counts_and_drops_the_corrupt_image(tmp_path):
    bench = Benchmark.load(image_benchmark(tmp_path, corrupt=(("train", 4),)))
    ds = split_dataset(bench, "train", {"size": 16, "on_error": "skip"}, train=False)
    with pytest.warns(UserWarning, match="004.png: cannot decode image"):
        x, y, idx = ds.__getitems__(list(range(8)))
    assert idx.tolist() == [0, 1, 2, 3, 5, 6, 7]
    assert x.shape == (7, 3, 16, 16)
    np.testing.assert_array_equal(y.numpy(), bench.splits["train"].labels.rows(idx.numpy()))
    assert list(ds.skipped) == [4] and "train/004.png" in ds.skipped[4]


def test_fail_policy_names_the_file(tmp_path):
    bench = Benchmark.load(image_benchmark(tmp_path, corrupt=(("val", 2),)))
    ds = split_dataset(bench, "val", {"size": 16, "on_error": "fail"}, train=False)
    ds.__getitems__([0, 1])
    with pytest.raises(ImageDecodeError, match=r"val/002\.png: cannot decode image"):
        ds.__getitems__([1, 2, 3])


def test_bad_options_are_clear_errors(tmp_path):
    bench = Benchmark.load(image_benchmark(tmp_path))
    with pytest.raises(ValueError, match=r"data.image: unknown key\(s\) \['crop'\]"):
        build_datasets(bench, "image", ["train"], {"image": {"crop": 3}}, 0)
    with pytest.raises(ValueError, match="on_error: 'ignore' is not allowed"):
        build_datasets(bench, "image", ["train"], {"image": {"on_error": "ignore"}}, 0)
    with pytest.raises(ValueError, match="image paths for"):
        ImageFileDataset([], bench.splits["train"].labels, lambda im: im, size=4)


def test_engine_trains_on_image_files(tmp_path):
    from palt.engine import fit

    bench = image_benchmark(tmp_path, corrupt=(("train", 1), ("test", 2)))
    config = {
        "data": {"benchmark": str(bench), "batch_size": 4, "image": {"size": 16}},
        "model": {"params": {"widths": [8, 16]}},
        "method": {"name": "bce"},
        "optim": {"name": "adam", "lr": 0.01},
        "trainer": {"epochs": 2, "seed": 0, "progress": "off"},
        "output": {"dir": str(tmp_path / "runs"), "name": "img"},
    }
    with pytest.warns(UserWarning, match="001.png"):
        result = fit(config)
    assert np.isfinite(result.summary["test"]["mAP"])
    # the undecodable test image is left out of the predictions, the others are all there
    saved = np.load(result.run_dir / "predictions" / "test.indices.npy")
    assert sorted(saved.tolist()) == [0, 1, 3, 4, 5, 6]


def test_engine_trains_a_head_on_a_frozen_timm_backbone(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import load_file, save_file

    from palt.engine import fit

    bench = image_benchmark(tmp_path)
    torch.manual_seed(0)
    save_file(timm.create_model("test_resnet").state_dict(), str(tmp_path / "w.safetensors"))
    config = {
        "data": {"benchmark": str(bench), "batch_size": 4, "image": {"size": 32}},
        "model": {
            "backbone": "timm",
            "params": {"model_name": "test_resnet", "weights": str(tmp_path / "w.safetensors")},
            "freeze_backbone": True,
        },
        "optim": {"name": "adam", "lr": 0.01},
        "trainer": {"epochs": 1, "seed": 0, "progress": "off"},
        "output": {"dir": str(tmp_path / "runs"), "name": "timm"},
    }
    result = fit(config)
    assert np.isfinite(result.summary["test"]["mAP"])
    best = load_file(str(result.run_dir / "checkpoints" / "best.safetensors"))
    stem = [k for k in best if k.endswith("backbone.conv1.0.weight")]
    assert stem, sorted(best)[:5]
    original = load_file(str(tmp_path / "w.safetensors"))["conv1.0.weight"]
    assert torch.equal(best[stem[0]], original)  # frozen: still the file's weights
