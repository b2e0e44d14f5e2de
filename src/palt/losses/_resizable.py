"""Buffers whose length is known only once the training labels are (class counts, priors)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn


class ResizableBuffers(nn.Module):
    """A module whose buffers named in ``resizable`` take the stored shape on ``load_state_dict``.

    Such buffers start empty and are filled by ``setup`` or an extra stage; resuming from a
    checkpoint must restore them before (or without) either.
    """

    resizable: ClassVar[tuple[str, ...]] = ()

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        for name in self.resizable:
            stored = state_dict.get(prefix + name)
            if isinstance(stored, torch.Tensor):
                current = getattr(self, name)
                setattr(self, name, torch.empty_like(stored, device=current.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
