"""Darknet ``[maxpool]`` (with its padding rule and −inf padding) and ``[avgpool]`` (global).

Maxpool (``src/maxpool_layer.c``): ``padding`` is a *total* (default ``size − 1``), the window
origin is ``−padding//2``, out = ``(w + padding − size)//stride + 1``; taps outside the image
never win. So SPP (size 5/9/13, stride 1) is symmetric "same" pooling, size 2 / stride 1 pads one
column/row at the right/bottom only, and size 2 / stride 2 on an odd input acts like ceil mode.
"""
from __future__ import annotations

from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn


class MaxPool(nn.Module):
    """``Tensor[B, C, H, W] -> Tensor[B, C, (H + padding − size)//sy + 1, (W + ...)//sx + 1]``."""

    def __init__(self, size: int, stride: Tuple[int, int], padding: int) -> None:
        super().__init__()
        self.size = size
        self.stride = tuple(stride)
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        k, (sy, sx), p = self.size, self.stride, self.padding
        h, w = x.shape[-2:]
        oh = (h + p - k) // sy + 1
        ow = (w + p - k) // sx + 1
        begin = p // 2
        end_h = (oh - 1) * sy + k - h - begin  # padding needed at the bottom
        end_w = (ow - 1) * sx + k - w - begin
        if end_h == begin and end_w == begin and 2 * begin <= k:
            # symmetric: max_pool2d pads with -inf itself
            return F.max_pool2d(x, k, (sy, sx), begin)
        if min(end_h, end_w) < 0:  # windows never reach the last rows/columns
            x = x[..., : h + min(end_h, 0), : w + min(end_w, 0)]
            end_h, end_w = max(end_h, 0), max(end_w, 0)
        x = F.pad(x, (begin, end_w, begin, end_h), value=float("-inf"))
        return F.max_pool2d(x, k, (sy, sx))

    def extra_repr(self) -> str:
        return f"size={self.size}, stride={self.stride}, padding={self.padding}"


class GlobalAvgPool(nn.Module):
    """Darknet ``[avgpool]``: ``Tensor[B, C, H, W] -> Tensor[B, C, 1, 1]`` (mean over H·W)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean((2, 3), keepdim=True)
