"""Winograd F(4x4, 3x3) convolution against ``F.conv2d`` (the direct convolution oracle)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from yolov4.ops.winograd import WinogradConv2d, eligible, winograd_autotune, winograd_convert


@pytest.mark.parametrize("c,o,h,w", [(8, 16, 12, 12), (5, 7, 13, 10), (32, 32, 1, 1), (3, 4, 7, 9)])
def test_matches_direct_convolution(c, o, h, w):
    torch.manual_seed(0)
    conv = nn.Conv2d(c, o, 3, 1, 1)
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        ref, got = conv(x), WinogradConv2d(conv)(x)
    assert got.shape == ref.shape
    assert (got - ref).abs().max() <= 1e-4 * max(1.0, ref.abs().max().item())
    xc = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got_cl = WinogradConv2d(conv)(xc)
    assert (got_cl - ref).abs().max() <= 1e-4 * max(1.0, ref.abs().max().item())
    if h * w > 1 and c > 1:
        assert got_cl.is_contiguous(memory_format=torch.channels_last)


def test_no_bias_and_conversion_rules():
    conv = nn.Conv2d(32, 32, 3, 1, 1, bias=False)
    x = torch.randn(1, 32, 9, 9)
    with torch.no_grad():
        assert torch.allclose(WinogradConv2d(conv)(x), conv(x), atol=1e-4)
    assert not eligible(nn.Conv2d(32, 32, 3, 2, 1))
    assert not eligible(nn.Conv2d(32, 32, 1, 1, 0))
    assert not eligible(nn.Conv2d(32, 32, 3, 1, 1, groups=2))
    net = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.Conv2d(32, 32, 3, 1, 1), nn.LeakyReLU(0.1),
                        nn.Conv2d(32, 32, 3, 2, 1))
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        ref = net(x)
        assert winograd_convert(net, min_channels=3) == 2
        assert isinstance(net[1], WinogradConv2d) and isinstance(net[3], nn.Conv2d)
        assert torch.allclose(net(x), ref, atol=1e-4)
        assert winograd_autotune(net, x, runs=1, min_channels=3) == 0  # already converted
