"""Darknet ``[dropout]``: plain dropout and DropBlock (identity at eval).

Plain (``src/dropout_layer.c``): zero with probability p, scale survivors by 1/(1−p).

DropBlock (``dropblock=1``; Darknet's GPU kernel ``dropblock_fast_kernel``, DARKNET_SEMANTICS
§1.8). With ``m = min(1, iteration/(0.85·max_batches))``:

- ``cur_p = p·m``; block = ``int(dropblock_size_abs·m)`` or, with ``dropblock_size_rel``,
  ``min(int(rel·W·m), int(rel·H·m))``, clamped to ``[1, min(W, H)]``;
- seed probability ``cur_p/block²``; for every (image, channel) the position with the smallest
  uniform draw below it (if any) is the block's top-left, moved back inside the map
  (``x > W−block ⇒ x −= W−block``, then clamped) — **at most one block per channel per image**;
- per image, ``scale = 1/(1 − dropped/(C·H·W))`` multiplies the whole image's output.

The trainer drives the ramp through ``Darknet.set_iteration(iteration, max_batches)``, which
sets :attr:`DropBlock.iteration` / :attr:`DropBlock.max_batches` on every such layer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Dropout(nn.Module):
    """Plain dropout, ``Tensor[*] -> Tensor[*]``."""

    def __init__(self, probability: float = 0.2) -> None:
        super().__init__()
        self.probability = probability

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.probability <= 0:
            return x
        return F.dropout(x, self.probability, True)


class DropBlock(nn.Module):
    """DropBlock on ``Tensor[B, C, H, W]`` with Darknet's ramp; identity at eval.

    Attributes:
        iteration, max_batches: training progress (set via ``Darknet.set_iteration``).
    """

    def __init__(self, probability: float = 0.2, size_abs: int = 0, size_rel: float = 0.0,
                 max_batches: int = 0) -> None:
        super().__init__()
        self.probability = probability
        self.size_abs = size_abs if size_abs or size_rel else 7
        self.size_rel = size_rel if not size_abs else 0.0
        self.iteration = 0
        self.max_batches = max_batches

    def current(self, h: int, w: int) -> "tuple[float, int]":
        """``(cur_p, block)`` at the current iteration for an ``h x w`` map."""
        m = 1.0
        if self.max_batches > 0:
            m = min(1.0, self.iteration / (0.85 * self.max_batches))
        cur_p = self.probability * m
        if self.size_abs:
            block = int(self.size_abs * m)
        else:
            block = min(int(self.size_rel * w * m), int(self.size_rel * h * m))
        return cur_p, max(1, min(block, w, h))

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        b, c, h, w = x.shape
        cur_p, block = self.current(h, w)
        if cur_p <= 0:
            return x
        seed_p = cur_p / (block * block)
        with torch.no_grad():
            r = torch.rand(b, c, h * w, device=x.device)
            val, idx = torch.where(r < seed_p, r, torch.full_like(r, 2.0)).min(-1)
            has = val < 2.0                                                # [B, C]
            bx, by = idx % w, idx // w
            bx = torch.where(bx > w - block, bx - (w - block), bx).clamp(0, w - block)
            by = torch.where(by > h - block, by - (h - block), by).clamp(0, h - block)
            xs = torch.arange(w, device=x.device)
            ys = torch.arange(h, device=x.device)
            in_x = (xs >= bx[..., None]) & (xs < bx[..., None] + block)      # [B, C, W]
            in_y = (ys >= by[..., None]) & (ys < by[..., None] + block)      # [B, C, H]
            drop = in_y[..., :, None] & in_x[..., None, :] & has[..., None, None]
            dropped = drop.flatten(1).sum(1).to(x.dtype)                     # [B]
            scale = 1.0 / (1.0 - dropped / float(c * h * w))
            keep = (~drop).to(x.dtype) * scale.view(b, 1, 1, 1)
        return x * keep

    def extra_repr(self) -> str:
        return (f"probability={self.probability}, size_abs={self.size_abs}, "
                f"size_rel={self.size_rel}")
