"""Named methods (loss + statistics + hooks) for the trainer: ``palt.methods.create(name)``."""

import palt.methods.bce  # noqa: F401
import palt.methods.comic  # noqa: F401
import palt.methods.csl  # noqa: F401
import palt.methods.db  # noqa: F401
import palt.methods.focal  # noqa: F401
import palt.methods.hill_splc  # noqa: F401
import palt.methods.large_loss  # noqa: F401
import palt.methods.plm  # noqa: F401
import palt.methods.pseudo_stat  # noqa: F401
from palt.methods.base import Method, StageRequest, TrainContext
from palt.methods.registry import available, create, register, register_preset

# Method modules register themselves on import; keep this list sorted.

__all__ = [
    "Method",
    "StageRequest",
    "TrainContext",
    "available",
    "create",
    "register",
    "register_preset",
]
