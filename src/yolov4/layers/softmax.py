"""Darknet ``[softmax]``: max-subtracted softmax over ``inputs/groups`` values per group.

``src/softmax_layer.c``: per image the C·H·W outputs are split into ``groups`` contiguous
groups; each is ``softmax(x/temperature)``.
"""
from __future__ import annotations

from torch import Tensor, nn


class Softmax(nn.Module):
    """``Tensor[B, C, H, W] -> Tensor[B, C, H, W]``, each of ``groups`` flat chunks sums to 1."""

    def __init__(self, groups: int = 1, temperature: float = 1.0) -> None:
        super().__init__()
        self.groups = groups
        self.temperature = temperature

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        y = (x.reshape(shape[0], self.groups, -1) / self.temperature).softmax(-1)
        return y.reshape(shape)
