"""Darknet ``[softmax]`` and ``[cost]``: the classifier's output layers.

``[softmax]`` (``src/softmax_layer.c``, ``src/blas.c: softmax_cpu, softmax``): per image the
C·H·W outputs are split into ``groups`` contiguous groups; each is ``softmax(x/temperature)``,
max-subtracted.

Backward, as Darknet: ``backward_softmax_layer`` adds the layer's delta unchanged into the
previous layer's delta (``axpy_cpu(.., 1, l.delta, .., net.delta)``); there is no softmax
Jacobian. The delta itself is written by the loss (``softmax_x_ent_cpu``: ``t − p``), so the
effective gradient on the softmax *input* is ``p − t``: the cross-entropy gradient without
the ``1/temperature`` factor. In training mode :class:`Softmax` therefore passes the incoming
gradient straight through (``yolov4.loss.classify`` injects ``p − t`` on its output). Eval mode
and ``torch.no_grad`` are plain softmax.

``[cost]`` (``src/cost_layer.c``): the identity in forward; in training it adds
``scale·(t − x)`` (``type=sse``, ``l2_cpu``) to the delta of the layer before it. Its loss part is
computed by :mod:`yolov4.loss.classify` too; the module here only carries ``type`` and ``scale``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class _PassGradient(torch.autograd.Function):
    """``y = softmax`` forward; ``dL/dx = dL/dy`` backward (Darknet's ``backward_softmax_layer``)."""

    @staticmethod
    def forward(ctx, x: Tensor, probs: Tensor) -> Tensor:  # type: ignore[override]
        return probs

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return grad, None


class Softmax(nn.Module):
    """``Tensor[B, C, H, W] -> Tensor[B, C, H, W]``, each of ``groups`` flat chunks sums to 1.

    Training mode: Darknet's backward (the gradient passes unchanged, see module docstring).
    """

    def __init__(self, groups: int = 1, temperature: float = 1.0) -> None:
        super().__init__()
        self.groups = groups
        self.temperature = temperature

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        y = (x.reshape(shape[0], self.groups, -1) / self.temperature).softmax(-1).reshape(shape)
        if self.training and torch.is_grad_enabled() and x.requires_grad:
            return _PassGradient.apply(x, y.detach())
        return y


class Cost(nn.Module):
    """Darknet ``[cost]``: ``Tensor[B, ...] -> the same tensor``; ``cost_type`` and ``scale`` are
    read by the classification loss."""

    def __init__(self, cost_type: str = "sse", scale: float = 1.0) -> None:
        super().__init__()
        self.cost_type = cost_type
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return x

    def extra_repr(self) -> str:
        return f"type={self.cost_type}, scale={self.scale:g}"
