"""Registry of named methods: ``create(name, **params)`` and ``available()``.

Adding a method takes one file (a :class:`~palt.methods.base.Method` subclass decorated with
:func:`register`), one import line in ``palt/methods/__init__.py`` and one test file.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from palt.methods.base import Method

_REGISTRY: dict[str, Callable[..., Method]] = {}
_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` creatable by ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no 'name'")
    if cls.name in _REGISTRY or cls.name in _PRESETS:
        raise ValueError(f"method name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def register_preset(name: str, base: str, **params: Any) -> None:
    """A named preset: ``create(name)`` = ``create(base, **params)`` (user params override)."""
    if name in _REGISTRY or name in _PRESETS:
        raise ValueError(f"method name {name!r} is registered twice")
    _PRESETS[name] = (base, params)


def available() -> list[str]:
    """Every creatable method name (classes and presets), sorted."""
    return sorted([*_REGISTRY, *_PRESETS])


def create(name: str, **params: Any) -> Method:
    """Create a method by name; unknown names and parameters raise a clear ``ValueError``."""
    if name in _PRESETS:
        base, preset = _PRESETS[name]
        method = create(base, **{**preset, **params})
        method._preset = name  # type: ignore[attr-defined]
        return method
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid names: {', '.join(available())}")
    cls = _REGISTRY[name]
    sig = inspect.signature(cls.__init__)
    accepted = [p for p in sig.parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown and not any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()
    ):
        raise ValueError(
            f"method {name!r}: unknown parameter(s) {unknown}; accepted: {', '.join(accepted)}"
        )
    method = cls(**params)
    bound = {
        k: v.default for k, v in sig.parameters.items() if k != "self" and v.default is not v.empty
    }
    method._params = {**bound, **params}  # type: ignore[attr-defined]
    return method
