"""Darknet ``[sam]`` (spatial attention product) and ``[scale_channels]`` (channel/pixel scaling).

``[sam]`` (``src/sam_layer.c``): ``out = prev ⊙ from`` elementwise (equal shapes), then
``activation``; no sigmoid inside (the conv before it carries ``activation=logistic``).
``[scale_channels]`` (``src/scale_channels_layer.c``): output has ``from``'s shape,
``out[b,c,y,x] = prev[b,c]·from[b,c,y,x]``; with ``scale_wh=1``
``out[b,c,y,x] = prev[b,y,x]·from[b,c,y,x]``; then ``activation``.
"""
from __future__ import annotations

from torch import Tensor, nn


class SAM(nn.Module):
    """``prev, from: Tensor[B, C, H, W] -> Tensor[B, C, H, W]``."""

    def __init__(self, source: int, activation: nn.Module) -> None:
        super().__init__()
        self.sources = [source]
        self.act = activation

    def forward(self, x: Tensor, other: Tensor) -> Tensor:
        return self.act(x * other)


class ScaleChannels(nn.Module):
    """``prev: Tensor[B, C, 1, 1]`` (or ``[B, 1, H, W]`` with scale_wh), ``from: [B, C, H, W]``."""

    def __init__(self, source: int, activation: nn.Module, scale_wh: int = 0) -> None:
        super().__init__()
        self.sources = [source]
        self.act = activation
        self.scale_wh = scale_wh

    def forward(self, x: Tensor, other: Tensor) -> Tensor:
        if self.scale_wh:
            return self.act(other * x[:, :1])
        return self.act(other * x)
