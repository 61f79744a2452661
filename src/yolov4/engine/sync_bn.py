"""Batch-norm statistics over all processes (``sync_bn=1``): torch's SyncBatchNorm on CUDA, an
all-reduce version on CPU (gloo).

With ``sync_bn=1`` a BN layer normalises with the mean and variance of the whole global
mini-batch (every rank's slice together), which is what one process computes on the same
mini-batch: training on N processes then equals training on one, BN included. Without it each
rank uses its own slice's statistics (``batch / (subdivisions x processes)`` images).

CmBN layers (``batch_normalize=2``) are never converted: they accumulate statistics over the
subdivisions of their own rank's slices. The converted layers keep the tensors (and state-dict
names) of the ``BatchNorm2d`` they replace; :func:`revert_sync_batchnorm` puts plain layers
back before export.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are summed over the default process group.

    ``x``: ``Tensor[B, C, H, W]`` (this rank's slice). The per-channel sums ``Σx``, ``Σx²`` and
    the element count are all-reduced (differentiable: the backward all-reduces the gradient
    sums too), so ``y = (x - mean) / sqrt(var + eps) * γ + β`` with the global biased ``var`` and
    the running statistics updated with the global unbiased one, as ``BatchNorm2d`` does on
    the whole mini-batch. Sums in float64 (``E[x²] - E[x]²`` cancels otherwise). For CPU
    processes; on CUDA torch's ``SyncBatchNorm`` is used.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and torch.distributed.is_available()
                and torch.distributed.is_initialized()
                and torch.distributed.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce
        c = x.shape[1]
        xd = x.double()
        local = torch.cat([xd.sum((0, 2, 3)), (xd * xd).sum((0, 2, 3)),
                           xd.new_tensor([x.numel() // c])])
        total = all_reduce(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp(min=0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (self.momentum if self.momentum is not None      # None: cumulative average
                     else 1.0 / float(self.num_batches_tracked))
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(m * mean.to(self.running_mean.dtype))
                self.running_var.mul_(1 - m).add_(m * unbiased.to(self.running_var.dtype))
        scale = torch.rsqrt(var + self.eps).to(x.dtype)
        shape = (1, c, 1, 1)
        y = (x - mean.to(x.dtype).view(shape)) * scale.view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def _swap(net: nn.Module, old: type, make: type, skip: tuple = ()) -> int:
    """Replace every ``old`` (not ``skip``) child by ``make`` sharing its tensors; how many."""
    count = 0
    for name, child in list(net.named_children()):
        if isinstance(child, old) and not isinstance(child, skip) and type(child) is not make:
            new = make(child.num_features, child.eps, child.momentum, child.affine,
                       child.track_running_stats)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(net, name, new)
            count += 1
        else:
            count += _swap(child, old, make, skip)
    return count


def convert_sync_batchnorm(net: nn.Module, device: torch.device) -> int:
    """Plain BN layers -> synchronised ones (``SyncBatchNorm`` on CUDA, :class:`AllReduceBatchNorm2d`
    elsewhere), in place; CmBN kept. Returns how many were converted."""
    from ..layers.cmbn import CmBatchNorm2d
    make = nn.SyncBatchNorm if device.type == "cuda" else AllReduceBatchNorm2d
    return _swap(net, nn.BatchNorm2d, make, skip=(CmBatchNorm2d, AllReduceBatchNorm2d))


def revert_sync_batchnorm(net: nn.Module) -> int:
    """Synchronised BN layers -> plain ``BatchNorm2d`` sharing the tensors (exports, fusing)."""
    return (_swap(net, nn.SyncBatchNorm, nn.BatchNorm2d)
            + _swap(net, AllReduceBatchNorm2d, nn.BatchNorm2d))


__all__ = ["AllReduceBatchNorm2d", "convert_sync_batchnorm", "revert_sync_batchnorm"]
