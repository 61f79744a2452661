"""Darknet ``[reorg3d]``: space-to-depth in Darknet's element order (not ``pixel_unshuffle``).

``src/blas.c: reorg_cpu``: ``out[b, (dy·s + dx)·C + c, j, i] = in[b, c, j·s + dy, i·s + dx]``,
i.e. ``cat([x[..., dy::s, dx::s] for dy in range(s) for dx in range(s)], 1)``. ``reverse=1``
is the inverse (depth-to-space with the same order).
"""
from __future__ import annotations

from torch import Tensor, nn


class Reorg3d(nn.Module):
    """``Tensor[B, C, H, W] -> Tensor[B, C·s², H/s, W/s]`` (reverse: the inverse map)."""

    def __init__(self, stride: int, reverse: int = 0) -> None:
        super().__init__()
        self.stride = stride
        self.reverse = reverse

    def forward(self, x: Tensor) -> Tensor:
        s = self.stride
        b, c, h, w = x.shape
        if not self.reverse:
            h, w = h // s * s, w // s * s
            x = x[..., :h, :w]
            # [B, C, H/s, s(dy), W/s, s(dx)] -> [B, dy, dx, C, H/s, W/s]
            y = x.reshape(b, c, h // s, s, w // s, s).permute(0, 3, 5, 1, 2, 4)
            return y.reshape(b, s * s * c, h // s, w // s)
        c2 = c // (s * s)
        y = x.reshape(b, s, s, c2, h, w).permute(0, 3, 4, 1, 5, 2)
        return y.reshape(b, c2, h * s, w * s)

    def extra_repr(self) -> str:
        return f"stride={self.stride}, reverse={self.reverse}"
