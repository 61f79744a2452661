"""CPU inference optimisations of a fused ``Darknet``: fast Mish, channels-last, Winograd convs.

All keep fp32 results within ~1e-5 relative of the plain network (checked in tests):

- **Mish** as ``x · σ(2 − σ) / (1 + (1 − σ)²)`` with ``σ = sigmoid(x)`` — algebraically
  ``x · tanh(softplus(x))`` (with ``u = 1 + eˣ = 1/(1 − σ)``: ``tanh(ln u) = (u² − 1)/(u² + 1)``)
  — built from vectorised sigmoid and in-place arithmetic; ~6x faster than ``F.mish`` on CPU
  (measured 31.7 -> 5.3 ms on 2.8M elements, 2 threads), max abs error 1e-6, no cancellation
  for large negative x (``σ(2 − σ)`` keeps ``2eˣ`` exactly);
- **channels-last** memory format for weights and activations (oneDNN's native layout);
- **Winograd F(4x4, 3x3)** for the 3x3 stride-1 convolutions that measure faster on this
  machine (:mod:`yolov4.ops.winograd`).

Inference only: the fast Mish is not meant for training (it keeps more intermediates).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn


def fast_mish(x: Tensor) -> Tensor:
    """Mish ``x · tanh(softplus(x))`` via one sigmoid (see the module docstring)."""
    s = torch.sigmoid(x)
    num = torch.rsub(s, 2.0).mul_(s)  # σ(2 − σ) = 1 − (1 − σ)²
    den = torch.rsub(s, 1.0)
    den.mul_(den).add_(1.0)  # 1 + (1 − σ)²
    return num.div_(den).mul_(x)


class FastMish(nn.Module):
    """Drop-in Mish module using :func:`fast_mish`."""

    def forward(self, x: Tensor) -> Tensor:
        return fast_mish(x)

    def extra_repr(self) -> str:
        return "mish (sigmoid form)"


def replace_mish(module: nn.Module) -> int:
    """Swap every Mish activation (Darknet ``Activation('mish')`` or ``nn.Mish``) for
    :class:`FastMish`, in place; returns how many."""
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Mish) or getattr(child, "name", None) == "mish" and \
                type(child).__name__ == "Activation":
            setattr(module, name, FastMish())
            count += 1
        else:
            count += replace_mish(child)
    return count


@torch.no_grad()
def optimize_for_inference(net: nn.Module, example: Optional[Tensor] = None, *,
                           channels_last: bool = True, fast_mish: bool = True,
                           winograd: bool = True) -> nn.Module:
    """Apply the optimisations in place (``net`` should be fused and in eval mode).

    Args:
        example: an input ``Tensor[1, 3, H, W]`` of the deployment size, needed to time the
            Winograd candidates (skipped without it).
    Returns:
        ``net``; feed it channels-last inputs (``x.contiguous(memory_format=torch.channels_last)``)
        when ``channels_last`` is set — other layouts still work, only slower.
    """
    net.eval()
    if fast_mish:
        replace_mish(net)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    if winograd and example is not None:
        from .ops.winograd import winograd_autotune

        x = example.contiguous(memory_format=torch.channels_last) if channels_last else example
        with torch.inference_mode():
            winograd_autotune(net, x)
    net.channels_last = bool(channels_last)
    return net
