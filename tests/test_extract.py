"""``palt extract``: feature shards against a direct backbone pass, skip accounting,
interrupt → resume gives the bytes of an uninterrupted run, training on cached features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

timm = pytest.importorskip("timm")
from PIL import Image  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from palt.cli import main  # noqa: E402
from palt.data.benchmark import Benchmark  # noqa: E402
from palt.data.datasets import build_datasets  # noqa: E402
from palt.data.features import FeatureCacheError, extract_features  # noqa: E402
from palt.data.images import image_transform, split_dataset  # noqa: E402
from palt.models import create_backbone  # noqa: E402
from vision_helpers import image_benchmark  # noqa: E402

SIZE = 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    bench = image_benchmark(root, sizes=(11, 5, 6), corrupt=(("train", 6),))
    torch.manual_seed(0)
    ref = timm.create_model("test_resnet", pretrained=False)
    save_file(ref.state_dict(), str(root / "tiny.safetensors"))
    return root, bench, root / "tiny.safetensors"


def _extract(bench: Path, weights: Path, out: Path, *extra: str) -> int:
    return main(
        ["extract", str(bench), "--backbone", "test_resnet", "--weights", str(weights),
         "--out", str(out), "--size", str(SIZE), "--shard-size", "3", "--batch-size", "2",
         *extra]
    )  # fmt: skip


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


def _api_run(bench: Path, weights: Path, out: Path, **kw) -> dict:
    b = Benchmark.load(bench)
    datasets = {s: split_dataset(b, s, {"size": SIZE}, train=False) for s in ("train", "test")}
    backbone, _ = create_backbone(
        "timm", input_shape=(3, SIZE, SIZE), model_name="test_resnet", weights=str(weights)
    )
    with pytest.warns(UserWarning):
        return extract_features(
            datasets, backbone, out, params={"x": 1}, shard_size=3, batch_size=2, **kw
        )


def test_shards_hold_the_backbone_features(setup):
    root, bench, weights = setup
    out = root / "cli"
    with pytest.warns(UserWarning, match="006.png"):
        assert _extract(bench, weights, out, "--dtype", "fp32") == 0
    b = Benchmark.load(bench)
    # independent computation: timm model with the same weights, classifier removed
    ref = timm.create_model("test_resnet", pretrained=False, num_classes=0).eval()
    state = load_file(str(weights))
    ref.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")})
    tf = image_transform(False, size=SIZE)
    with torch.no_grad():
        want = ref(torch.stack([tf(Image.open(b.image_path("train", i)).convert("RGB"))
                                for i in (0, 4, 7, 10)])).numpy()  # fmt: skip
    feats = np.concatenate([np.load(out / "train" / f"features-{k:05d}.npy") for k in range(4)])
    index = np.concatenate([np.load(out / "train" / f"index-{k:05d}.npy") for k in range(4)])
    assert index.tolist() == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10]  # sample 6 is the corrupt PNG
    np.testing.assert_allclose(feats[[0, 4, 6, 9]], want, rtol=1e-4, atol=1e-5)
    record = json.loads((out / "train" / "split.json").read_text())
    assert record["n_samples"] == 11 and record["dim"] == 96 and record["shards"] == 4
    assert [s["index"] for s in record["skipped"]] == [6]
    assert "train/006.png: cannot decode image" in record["skipped"][0]["error"]
    assert (out / "val" / "split.json").is_file() and (out / "test" / "split.json").is_file()

    # the engine reads the folder: rows by sample index, the skipped sample dropped
    datasets, _ = build_datasets(b, "features", ["train"], {"features": str(out)}, 0)
    x, y, idx = datasets["train"].__getitems__([7, 6, 0])
    assert idx.tolist() == [7, 0]
    np.testing.assert_allclose(x.numpy(), want[[2, 0]], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(y.numpy(), b.splits["train"].labels.rows([7, 0]))


def test_fail_policy_stops_naming_the_file(setup, tmp_path, capsys):
    _, bench, weights = setup
    assert _extract(bench, weights, tmp_path / "f", "--on-error", "fail", "--splits", "train") == 2
    assert "train/006.png: cannot decode image" in capsys.readouterr().err
    assert not (tmp_path / "f" / "train" / "split.json").exists()


def test_interrupt_then_resume_gives_identical_shards(setup, tmp_path):
    _, bench, weights = setup
    full = tmp_path / "full"
    _api_run(bench, weights, full)

    part = tmp_path / "part"
    written = []

    def stop_after_two(split: str, k: int) -> None:
        written.append((split, k))
        if len(written) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _api_run(bench, weights, part, after_shard=stop_after_two)
    assert not (part / "train" / "split.json").exists()
    # a partial third shard: features written, the completion record not yet
    (part / "train" / "features-00002.npy").write_bytes(b"partial garbage")
    with pytest.raises(FeatureCacheError, match="incomplete; run `palt extract` again"):
        build_datasets(Benchmark.load(bench), "features", ["train"], {"features": str(part)}, 0)

    resumed = []
    _api_run(bench, weights, part, after_shard=lambda s, k: resumed.append((s, k)))
    assert resumed == [("train", 2), ("train", 3), ("test", 0), ("test", 1)]  # 0, 1 kept
    assert _files(part) == _files(full)

    # a damaged completion record makes its shard count as unfinished
    (part / "train" / "shard-00002.json").write_text("{}")
    again = []
    _api_run(bench, weights, part, after_shard=lambda s, k: again.append((s, k)))
    assert again == [("train", 2)]
    assert _files(part) == _files(full)


def test_resume_with_other_settings_is_refused(setup, tmp_path, capsys):
    _, bench, weights = setup
    out = tmp_path / "o"
    _extract(bench, weights, out, "--splits", "test")
    capsys.readouterr()
    assert _extract(bench, weights, out, "--splits", "test", "--dtype", "fp32") == 2
    assert "other settings (differ in ['dtype'])" in capsys.readouterr().err
    assert _extract(bench, weights, out, "--splits", "test", "--dtype", "fp32", "--overwrite") == 0


def test_train_on_cached_features(setup):
    from palt.engine import fit

    root, bench, _ = setup
    out = root / "cli"
    if not (out / "test" / "split.json").exists():
        pytest.skip("needs test_shards_hold_the_backbone_features")
    config = {
        "data": {"benchmark": str(bench), "features": str(out), "batch_size": 4},
        "method": {"name": "bce"},
        "optim": {"name": "adam", "lr": 0.01},
        "trainer": {"epochs": 3, "seed": 0, "progress": "off"},
        "output": {"dir": str(root / "runs"), "name": "feat"},
    }
    result = fit(config)
    assert np.isfinite(result.summary["test"]["mAP"])
    saved = (result.run_dir / "config.yaml").read_text()
    assert "backbone: auto" in saved
