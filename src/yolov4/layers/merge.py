"""Darknet ``[route]`` (concatenation with channel groups) and ``[shortcut]`` (sums, MiWRC).

Route (``src/route_layer.c``): input i contributes channels ``[g·C_i/G, (g+1)·C_i/G)`` for
``groups=G, group_id=g``; slices concatenate in list order.

Shortcut (``src/shortcut_layer.c``, ``src/blas.c: shortcut_multilayer_cpu``): output has the
previous layer's shape, ``out = w0·prev + Σ w_{i+1}·from_i`` then ``activation``. Without
``weights_type`` all weights are 1. A from-layer with fewer channels adds into the first channels;
extra channels of a larger one are ignored. ``weights_type=per_feature`` holds n+1 scalars,
``per_channel`` (n+1)·C values laid out ``[input][channel]``. ``weights_normalization=relu``:
``lrelu(w_i)/(1e-4 + Σ lrelu(w_j))`` with ``lrelu(w) = max(w, 0.001)``, as Darknet's GPU kernel
(``shortcut_multilayer_kernel``, the reference training build) and ``fuse_conv_batchnorm`` (used
by ``detector test/map``) compute it — the CPU forward's ``w_i/Σ relu(w_j)`` differs;
``softmax``: ``exp(w_i − max)/(1e-4 + Σ exp(w_j − max))``.
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor, nn


class Route(nn.Module):
    """``list[Tensor[B, C_i, H, W]] -> Tensor[B, ΣC_i/groups, H, W]``."""

    def __init__(self, sources: List[int], groups: int = 1, group_id: int = 0) -> None:
        super().__init__()
        self.sources = list(sources)
        self.groups = groups
        self.group_id = group_id

    def forward(self, inputs: List[Tensor]) -> Tensor:
        if self.groups > 1:
            parts = []
            for x in inputs:
                step = x.shape[1] // self.groups
                parts.append(x[:, self.group_id * step:(self.group_id + 1) * step])
            inputs = parts
        return inputs[0] if len(inputs) == 1 else torch.cat(inputs, 1)

    def extra_repr(self) -> str:
        return f"layers={self.sources}, groups={self.groups}, group_id={self.group_id}"


def _add_channels(out: Tensor, other: Tensor) -> Tensor:
    """``out + other`` where ``other`` may have fewer/more channels (Darknet's flat indexing)."""
    c, co = out.shape[1], other.shape[1]
    if co == c:
        return out + other
    if co > c:
        return out + other[:, :c]
    return torch.cat([out[:, :co] + other, out[:, co:]], 1)


class Shortcut(nn.Module):
    """``prev: Tensor[B, C, H, W]``, ``from_i: Tensor[B, C_i, H, W]`` -> ``Tensor[B, C, H, W]``.

    Parameter ``weight`` (only with weights_type): ``Tensor[n+1]`` (per_feature) or
    ``Tensor[n+1, C]`` (per_channel), Darknet's order.
    """

    def __init__(self, sources: List[int], channels: int, activation: nn.Module,
                 weights_type: str = "none", weights_normalization: str = "none") -> None:
        super().__init__()
        self.sources = list(sources)
        self.act = activation
        self.weights_type = weights_type
        self.weights_normalization = weights_normalization
        n = len(sources) + 1
        if weights_type == "per_feature":
            self.weight = nn.Parameter(torch.ones(n))
        elif weights_type == "per_channel":
            self.weight = nn.Parameter(torch.ones(n, channels))
        else:
            self.register_parameter("weight", None)

    def normalized_weight(self) -> Tensor:
        """The weights after ``weights_normalization``, same shape as ``weight``."""
        w = self.weight
        if self.weights_normalization == "relu":
            lw = w.clamp(min=0.001)  # Darknet's lrelu()
            return lw / (1e-4 + lw.sum(0, keepdim=True))
        if self.weights_normalization == "softmax":
            e = torch.exp(w - w.max(0, keepdim=True).values)
            return e / (1e-4 + e.sum(0, keepdim=True))
        return w

    def forward(self, x: Tensor, others: List[Tensor]) -> Tensor:
        if self.weight is None:
            out = x
            for y in others:
                out = _add_channels(out, y)
            return self.act(out)
        w = self.normalized_weight()
        shape = (1, -1, 1, 1) if w.dim() == 2 else (1, 1, 1, 1)
        out = x * w[0].reshape(shape)
        for i, y in enumerate(others, start=1):
            wi = w[i]
            if w.dim() == 2 and y.shape[1] < x.shape[1]:
                wi = wi[: y.shape[1]]
            out = _add_channels(out, y * wi.reshape(shape) if w.dim() == 1
                                else y[:, : x.shape[1]] * wi.reshape(shape))
        return self.act(out)

    def extra_repr(self) -> str:
        return (f"from={self.sources}, weights_type={self.weights_type}, "
                f"weights_normalization={self.weights_normalization}")
