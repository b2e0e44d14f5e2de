"""Lazy imports of the optional ``[vision]`` extra (torchvision, timm, pillow).

The core of palt imports and works without them; the image pieces call :func:`require` at the
moment they need a module, and a missing one is a clear error naming the extra.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        raise ImportError(
            f"{feature} needs the package {top!r}, which is not installed; "
            f"install palt's vision extra: pip install 'palt[vision]'"
        ) from err
