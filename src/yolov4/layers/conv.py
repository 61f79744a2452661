"""Darknet ``[convolutional]``: Conv2d, then BatchNorm (plain or CmBN) or a bias, then activation.

State-dict names are part of the API: ``conv.weight`` (OIHW), ``conv.bias`` (only without BN),
``bn.weight`` (Darknet *scales*), ``bn.bias`` (Darknet *biases* when BN is on),
``bn.running_mean``, ``bn.running_var``.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .activations import make_activation
from .cmbn import CmBatchNorm2d


class ConvBNAct(nn.Module):
    """``Tensor[B, C, H, W] -> Tensor[B, filters, H', W']``.

    Args:
        in_channels, filters, size, stride ``(sy, sx)``, pad (per side, before dilation),
        dilation, groups: as in the cfg (``pad=1`` already turned into ``size//2``).
        batch_normalize: 0 (conv bias), 1 (BatchNorm2d), 2 (CmBN).
        activation: module from :func:`make_activation`.
        bn_eps: BN epsilon (Darknet 1e-5, OpenCV 1e-6); BN momentum is 0.01 like cuDNN Darknet.
    """

    def __init__(self, in_channels: int, filters: int, size: int, stride, pad: int,
                 dilation: int, groups: int, batch_normalize: int, activation: nn.Module,
                 bn_eps: float = 1e-5) -> None:
        super().__init__()
        # skip_init: no default kaiming init, Darknet's init follows
        self.conv = torch.nn.utils.skip_init(nn.Conv2d, in_channels, filters, size, stride,
                                             pad * dilation, dilation, groups,
                                             bias=not batch_normalize)
        if batch_normalize == 2:
            self.bn: nn.Module = CmBatchNorm2d(filters, eps=bn_eps, momentum=0.01)
        elif batch_normalize:
            self.bn = nn.BatchNorm2d(filters, eps=bn_eps, momentum=0.01)
        else:
            self.bn = nn.Identity()
        self.act = activation
        self.batch_normalize = batch_normalize
        # Darknet's initialisation: weights sqrt(2/fan_in)·U(-1,1), bias 0, BN scale 1
        fan_in = (in_channels // groups) * size * size
        with torch.no_grad():
            self.conv.weight.uniform_(-1.0, 1.0).mul_((2.0 / fan_in) ** 0.5)
            if self.conv.bias is not None:
                self.conv.bias.zero_()

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: Tensor, out: Optional[Tensor] = None) -> Tensor:
        """``out``: inference only, when BN and the activation are folded into a convolution
        that can write into a given tensor (``WinogradConv2d``): its output goes there."""
        if out is None:
            return self.act(self.bn(self.conv(x)))
        return self.conv(x, out=out)

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold BN into the conv in float64, as Darknet's ``fuse_conv_batchnorm``.

        ``W' = W·γ/sqrt(var+eps)``, ``b' = β − γ·mean/sqrt(var+eps)``; BN becomes Identity.
        """
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn, conv = self.bn, self.conv
        std = (bn.running_var.double() + bn.eps).sqrt()
        factor = bn.weight.double() / std
        weight = conv.weight.double() * factor.view(-1, 1, 1, 1)
        bias = bn.bias.double() - factor * bn.running_mean.double()
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, conv.dilation, conv.groups, bias=True)
        fused = fused.to(device=conv.weight.device, dtype=conv.weight.dtype)
        if (conv.weight.is_contiguous(memory_format=torch.channels_last)
                and not conv.weight.is_contiguous()):  # keep a channels_last model channels_last
            fused = fused.to(memory_format=torch.channels_last)
        fused.weight.copy_(weight.to(conv.weight.dtype))
        fused.bias.copy_(bias.to(conv.weight.dtype))
        self.conv = fused
        self.bn = nn.Identity()
        self.batch_normalize = 0
