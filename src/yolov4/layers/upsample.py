"""Darknet ``[upsample]``: nearest-neighbour ×stride times ``scale``; negative stride sums blocks.

``src/blas.c: upsample_cpu``: ``out[y, x] = scale·in[y/stride, x/stride]``; with ``stride < 0``
the layer is reversed and each |stride|×|stride| block is summed (times scale) into one pixel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Upsample(nn.Module):
    """``Tensor[B, C, H, W] -> Tensor[B, C, H·s, W·s]`` (s > 0) or ``[B, C, H//|s|, W//|s|]``."""

    def __init__(self, stride: int = 2, scale: float = 1.0) -> None:
        super().__init__()
        self.stride = stride
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        s = self.stride
        if s > 0:
            # repeat_interleave-free nearest upsampling (exact copies)
            b, c, h, w = x.shape
            if c > 1 and x.is_contiguous(memory_format=torch.channels_last) \
                    and not x.is_contiguous():  # keep channels-last memory (fast paths need it)
                n = x.permute(0, 2, 3, 1)[:, :, None, :, None, :]
                y = n.expand(b, h, s, w, s, c).reshape(b, h * s, w * s, c).permute(0, 3, 1, 2)
            else:
                y = x[:, :, :, None, :, None].expand(b, c, h, s, w, s).reshape(b, c, h * s, w * s)
        else:
            k = -s
            h, w = x.shape[-2] // k * k, x.shape[-1] // k * k
            y = F.avg_pool2d(x[..., :h, :w], k) * float(k * k)
        return y * self.scale if self.scale != 1.0 else y

    def extra_repr(self) -> str:
        return f"stride={self.stride}, scale={self.scale}"
