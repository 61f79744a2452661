"""Cross mini-Batch Normalization (CmBN, Darknet ``batch_normalize=2``).

Darknet (``src/blas_kernels.cu: fast_v_cbn_kernel``, DARKNET_SEMANTICS.md §4.5) accumulates
batch statistics over the mini-batches (subdivisions) of one batch: for the k-th mini-batch
since the batch began (k = 1, 2, ...)::

    m_avg = mean/k + (1 - 1/k)·m_avg
    v_avg = E2/k + (1 - 1/k)·v_avg        E2 = max(Σx²/(N−1), mean²)
    var   = max(0, v_avg − m_avg²)
    y     = (x − m_avg)/sqrt(var + eps)·γ + β
    rolling_mean ← 0.01·m_avg + 0.99·rolling_mean;  rolling_var likewise with var

and back-propagates with the ordinary BN backward formula applied to these saved statistics
(cuDNN), so no gradient flows into previous mini-batches. At eval it is plain BN with the
rolling statistics. The trainer must call :meth:`begin_batch` (``Darknet.begin_batch()``) before
the first mini-batch of every batch; without it every mini-batch continues one long average.
"""
from __future__ import annotations

from typing import Any, Tuple

import torch
from torch import Tensor, nn


class _CmbnNormalize(torch.autograd.Function):
    """``y = (x − mean)·invstd·γ + β`` with BN's backward formula on the given statistics."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, mean: Tensor, invstd: Tensor, weight: Tensor,
                bias: Tensor) -> Tensor:
        shape = (1, -1, 1, 1)
        xhat = (x - mean.view(shape)) * invstd.view(shape)
        ctx.save_for_backward(xhat, invstd, weight)
        return xhat * weight.view(shape) + bias.view(shape)

    @staticmethod
    def backward(ctx: Any, dy: Tensor) -> Tuple[Tensor, None, None, Tensor, Tensor]:
        xhat, invstd, weight = ctx.saved_tensors
        shape = (1, -1, 1, 1)
        n = dy.numel() // dy.shape[1]
        dbias = dy.sum((0, 2, 3))
        dweight = (dy * xhat).sum((0, 2, 3))
        dx = (weight * invstd).view(shape) / n * (
            n * dy - dbias.view(shape) - xhat * dweight.view(shape))
        return dx, None, None, dweight, dbias


class CmBatchNorm2d(nn.BatchNorm2d):
    """CmBN over ``Tensor[B, C, H, W]``; parameters and buffers are those of ``BatchNorm2d``.

    Extra buffers ``m_avg``, ``v_avg`` (per channel) and ``minibatch_index`` (k) hold the running
    accumulation inside one batch; :meth:`begin_batch` resets k to 0.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.01) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.register_buffer("m_avg", torch.zeros(num_features), persistent=False)
        self.register_buffer("v_avg", torch.zeros(num_features), persistent=False)
        self.minibatch_index = 0

    def begin_batch(self) -> None:
        """A new batch begins: forget the statistics of the previous batch's mini-batches."""
        self.minibatch_index = 0

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return super().forward(x)
        with torch.no_grad():
            xf = x.detach().float()
            n = xf.numel() // xf.shape[1]
            mean = xf.mean((0, 2, 3))
            e2 = (xf * xf).sum((0, 2, 3)) / max(n - 1, 1)
            e2 = torch.maximum(e2, mean * mean)
            self.minibatch_index += 1
            alpha = 1.0 / self.minibatch_index
            self.m_avg.mul_(1 - alpha).add_(alpha * mean)
            self.v_avg.mul_(1 - alpha).add_(alpha * e2)
            var = (self.v_avg - self.m_avg * self.m_avg).clamp_(min=0)
            m = self.momentum if self.momentum is not None else 0.01
            self.running_mean.mul_(1 - m).add_(m * self.m_avg)
            self.running_var.mul_(1 - m).add_(m * var)
            self.num_batches_tracked += 1
            invstd = torch.rsqrt(var + self.eps)
            mean_used = self.m_avg.clone()
        y = _CmbnNormalize.apply(x, mean_used.to(x.dtype), invstd.to(x.dtype),
                                 self.weight.to(x.dtype), self.bias.to(x.dtype))
        return y
