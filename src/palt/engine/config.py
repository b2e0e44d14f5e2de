"""Run configuration: YAML → typed dataclasses, dotted overrides, validation before any work.

A config file has the sections below; every key is optional except ``data.benchmark``::

    data:     {benchmark, input, features, text, augment, image, batch_size, eval_batch_size,
               num_workers, sampler}
    model:    {backbone, params, freeze_backbone}
    method:   {name, params}
    optim:    {name, lr, weight_decay, momentum, nesterov, betas, grad_clip, ema}
    schedule: {name, warmup_epochs, step_size, gamma, min_lr_ratio, pct_start, div_factor,
               final_div_factor}
    trainer:  {epochs, seed, accelerator, devices, num_nodes, strategy, precision,
               checkpoint_every, select_on, threshold, progress, deterministic}
    output:   {dir, name, overwrite}

Overrides are ``section.key=value`` strings (``method.params.gamma_neg=3``); values are parsed
with ``yaml.safe_load``. A wrong key or value raises :class:`ConfigError` naming the dotted key
and what is allowed. See ``docs/config.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml


class ConfigError(ValueError):
    """A config key or value that is not allowed; the message names the dotted key."""


@dataclass
class DataConfig:
    benchmark: str = ""
    #: ``auto`` follows the benchmark's input kind (``text`` → TF-IDF features)
    input: Literal["auto", "features", "text", "array", "image"] = "auto"
    #: folder with ``<split>.npy`` feature matrices (written by ``palt extract``)
    features: str | None = None
    #: keyword arguments of ``palt.data.text.tfidf_features``
    text: dict[str, Any] = field(default_factory=dict)
    #: array images only, training split only: random crop after zero padding, horizontal flip
    augment: dict[str, Any] = field(default_factory=lambda: {"crop_padding": 0, "flip": False})
    #: image files only: transform sizes, scale, mean/std, on_error (``palt.data.images``)
    image: dict[str, Any] = field(default_factory=dict)
    #: per process (the global batch is ``batch_size × devices × num_nodes``)
    batch_size: int = 64
    eval_batch_size: int = 256
    num_workers: int = 0
    #: ``auto`` uses the method's ``default_sampler``
    sampler: Literal["auto", "shuffle", "class_aware"] = "auto"
    #: class-aware sampler only: ``num_samples_cls`` (3) and ``reduce`` (4; epoch length =
    #: max_c n_c · C / reduce draws — raise it to shorten the epoch on many-class data)
    sampler_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    #: ``auto``: ``identity`` for feature inputs, ``cnn`` for array images
    backbone: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)
    freeze_backbone: bool = False


@dataclass
class MethodConfig:
    name: str = "bce"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    name: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: float = 1e-3
    #: applied to weights only, never to biases or normalisation parameters
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    #: max gradient norm; ``null`` = no clipping
    grad_clip: float | None = None
    #: decay of an exponential moving average of the weights; ``null`` = off
    ema: float | None = None


@dataclass
class ScheduleConfig:
    name: Literal["none", "step", "cosine", "onecycle"] = "none"
    warmup_epochs: float = 0.0
    step_size: int = 10
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    pct_start: float = 0.2
    div_factor: float = 25.0
    final_div_factor: float = 1e4


@dataclass
class TrainerConfig:
    epochs: int = 10
    seed: int = 0
    accelerator: Literal["cpu", "gpu", "cuda", "mps", "auto"] = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: Literal["auto", "ddp", "fsdp"] = "auto"
    precision: Literal["32", "32-true", "bf16-mixed", "16-mixed"] = "32"
    #: also checkpoint every this many optimiser steps (0 = at epoch ends only)
    checkpoint_every: int = 0
    #: model selection: best validation mAP (default), best test mAP (labelled as such), last
    select_on: Literal["val", "test", "last"] = "val"
    #: logit threshold of the F1 metrics
    threshold: float = 0.0
    progress: Literal["auto", "on", "off"] = "auto"
    deterministic: bool = True


@dataclass
class OutputConfig:
    dir: str = "runs"
    #: ``null``: ``<benchmark>-<method>-s<seed>``
    name: str | None = None
    overwrite: bool = False


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @property
    def run_dir(self) -> Path:
        name = self.output.name or (
            f"{Path(self.data.benchmark).name}-{self.method.name}-s{self.trainer.seed}"
        )
        return Path(self.output.dir) / name


# ---------------------------------------------------------------------- loading
def load_config(
    source: str | os.PathLike[str] | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Read a YAML file (or a dict), apply ``key=value`` overrides, validate into a :class:`Config`.

    Relative ``data.benchmark`` / ``data.features`` paths in a file are resolved against the
    current directory first and then against the file's folder.
    """
    base: Path | None = None
    if isinstance(source, dict):
        raw: Any = _deepcopy(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: invalid YAML: {err}") from None
        base = path.parent
    if not isinstance(raw, dict):
        raise ConfigError("a config must be a mapping of sections (data, model, method, ...)")
    for item in overrides:
        apply_override(raw, item)
    config = build(Config, raw, "")
    if base is not None:
        for key in ("benchmark", "features"):
            value = getattr(config.data, key)
            relative = value and not Path(value).is_absolute() and not Path(value).exists()
            if relative and (base / value).exists():
                setattr(config.data, key, str(base / value))
    return config


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``a.b.c=value`` override to a nested dict in place."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected key=value, e.g. optim.lr=0.01")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    parts = key.strip().split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {'.'.join(parts[: depth + 1])} is not a section")
        node = child
    node[parts[-1]] = value


def build(cls: type, raw: Any, prefix: str) -> Any:
    """Validate a nested dict into dataclass ``cls``; errors name the dotted key."""
    where = prefix.rstrip(".") or "config"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown key; allowed keys in {where}: {', '.join(names)}"
        )
    values = {k: _coerce(hints[k], v, f"{prefix}{k}") for k, v in raw.items()}
    return cls(**values)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key + ".")
    if origin is Literal:
        text = (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )
        if isinstance(value, bool) and {"on", "off"} <= set(args):
            text = "on" if value else "off"  # YAML 1.1 reads a bare on/off as a boolean
        if text not in args:
            raise ConfigError(
                f"{key}: {value!r} is not allowed; allowed values: {', '.join(map(str, args))}"
            )
        return text
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)  # YAML 1.1 reads 1e-3 as a string
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): _float_strings(v) for k, v in value.items()}
    raise TypeError(f"{key}: unsupported config type {tp}")  # a bug in this module


def _float_strings(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; free-form params get the number back."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in "eE.") else value
        except ValueError:
            return value
    return value


def _deepcopy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deepcopy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deepcopy(v) for v in obj]
    return obj
