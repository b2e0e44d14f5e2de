"""A small convolutional network for array images (MultiMNIST-style), fast on a CPU.

A stem (conv3×3 with stride ``stem_stride`` → BatchNorm → ReLU, ``widths[0]`` channels) then
blocks of conv3×3 → BatchNorm → ReLU → conv3×3 → BatchNorm → ReLU → 2×2 max-pool; global
average pooling gives a ``widths[-1]``-dimensional feature vector. About 0.3 M parameters with
the default widths (32, 64, 128). The stride-2 stem cuts the cost of 64×64 inputs about
fourfold; use ``stem_stride=1`` for small images (28×28 and below).
"""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SmallCNN(nn.Module):
    """``len(widths)`` conv blocks, global average pooling, optional dropout."""

    def __init__(
        self,
        in_channels: int = 1,
        widths: tuple[int, ...] = (32, 64, 128),
        dropout: float = 0.0,
        stem_stride: int = 2,
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("SmallCNN needs at least one block width")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        chans = (widths[0], *widths)
        self.blocks = nn.Sequential(
            *(_block(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True))
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.blocks(self.stem(x))).flatten(1))
