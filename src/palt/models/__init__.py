"""Backbones by name: ``create_backbone(name, input_shape=..., **params) -> (module, feature_dim)``.

A backbone maps a batch of inputs to B×D features; the method's head (``Method.build_head``)
sits on top. Built-in names:

* ``identity`` — the inputs are already features (TF-IDF, cached backbone features); D = input D.
* ``mlp`` — ``hidden`` (list of widths) fully connected layers with ReLU and ``dropout``.
* ``cnn`` — the small CPU-friendly convolutional network of :mod:`palt.models.cnn`.
* ``timm`` — a timm model by ``model_name`` with local ``weights`` (:mod:`palt.models.timm_backbones`).

More backbones (e.g. timm models with local weights) register with :func:`register_backbone`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from torch import nn

from palt.models.cnn import SmallCNN

BackboneFactory = Callable[..., tuple[nn.Module, int]]
_BACKBONES: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator: ``factory(input_shape, **params) -> (module, feature_dim)`` becomes ``name``."""

    def wrap(factory: BackboneFactory) -> BackboneFactory:
        if name in _BACKBONES:
            raise ValueError(f"backbone name {name!r} is registered twice")
        _BACKBONES[name] = factory
        return factory

    return wrap


def available_backbones() -> list[str]:
    return sorted(_BACKBONES)


def check_backbone(name: str, params: dict[str, object]) -> None:
    """Raise a clear ``ValueError`` for an unknown backbone name or parameter (builds nothing)."""
    if name not in _BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; valid names: {', '.join(available_backbones())}"
        )
    sig = inspect.signature(_BACKBONES[name])
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return
    accepted = [p for p in sig.parameters if p != "input_shape"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"backbone {name!r}: unknown parameter(s) {unknown}; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )


def create_backbone(
    name: str, *, input_shape: Sequence[int], **params: object
) -> tuple[nn.Module, int]:
    """Build backbone ``name`` for inputs of shape ``input_shape`` (one sample, no batch axis)."""
    check_backbone(name, params)
    return _BACKBONES[name](tuple(input_shape), **params)


@register_backbone("identity")
def _identity(input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    if len(input_shape) != 1:
        raise ValueError(
            f"backbone 'identity' needs feature vectors, got input shape {input_shape}"
        )
    return nn.Identity(), input_shape[0]


@register_backbone("mlp")
def _mlp(
    input_shape: tuple[int, ...], hidden: Sequence[int] = (512,), dropout: float = 0.0
) -> tuple[nn.Module, int]:
    if len(input_shape) != 1:
        raise ValueError(f"backbone 'mlp' needs feature vectors, got input shape {input_shape}")
    layers: list[nn.Module] = []
    width = input_shape[0]
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    return nn.Sequential(*layers), width


@register_backbone("cnn")
def _cnn(
    input_shape: tuple[int, ...],
    widths: Sequence[int] = (32, 64, 128),
    dropout: float = 0.0,
    stem_stride: int = 2,
) -> tuple[nn.Module, int]:
    if len(input_shape) != 3:
        raise ValueError(f"backbone 'cnn' needs C×H×W images, got input shape {input_shape}")
    model = SmallCNN(input_shape[0], tuple(int(w) for w in widths), dropout, int(stem_stride))
    return model, model.out_features


from palt.models import timm_backbones  # noqa: E402,F401 - registers "timm" (imports timm lazily)

__all__ = [
    "SmallCNN",
    "available_backbones",
    "check_backbone",
    "create_backbone",
    "register_backbone",
]
