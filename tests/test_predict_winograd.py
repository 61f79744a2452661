"""Winograd F(4x4, 3x3) convolution against ``F.conv2d`` (the direct convolution oracle)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from yolov4.runtime.winograd import WinogradConv2d, eligible, winograd_convert
from yolov4.runtime.winograd_tune import winograd_autotune


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


# --- the compiled transforms (yolov4.runtime.winograd_native), against F.conv2d + leaky ReLU ---

import sys  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from yolov4.runtime import winograd_native  # noqa: E402

native = pytest.mark.skipif(not winograd_native.available(), reason="native Winograd not built")


def test_native_is_built_on_linux():
    """CI runs on Linux with gcc: the optional extension must have been built there (a silent
    build failure would otherwise only show as a slower benchmark)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the build is only required on Linux")
    assert winograd_native.available()


def _reference(conv, x, slope):
    y = conv(x)
    return y if slope is None else F.leaky_relu(y, slope)


@native
@pytest.mark.parametrize("gemm", ["bmm", "onednn"])
@pytest.mark.parametrize("tile", [6, 4, 2])
@pytest.mark.parametrize("c,o,h,w,b", [(8, 16, 13, 13, 1), (5, 7, 7, 10, 2), (64, 48, 26, 26, 1),
                                       (3, 70, 1, 1, 3), (130, 9, 9, 5, 1)])
def test_native_matches_direct(gemm, tile, c, o, h, w, b):
    """Every tile size and product engine against F.conv2d: channel counts below, at and
    beyond the 16-channel vectors of the C transforms, borders, batches, 1x1 maps; the
    oneDNN weights packed for another size than they run at."""
    torch.manual_seed(0)
    conv = nn.Conv2d(c, o, 3, 1, 1)
    x = torch.randn(b, c, h, w).contiguous(memory_format=torch.channels_last)
    for slope in (None, 0.1, 0.0):
        wg = WinogradConv2d(conv, slope, tile=tile, gemm=gemm, input_size=(1, c, 40, 40))
        with torch.no_grad():
            ref, got = _reference(conv, x, slope), wg(x)
            fallback = wg(x.contiguous())  # NCHW: the torch implementation
        assert got.shape == ref.shape and got.is_contiguous(memory_format=torch.channels_last)
        assert (got - ref).abs().max() <= 1e-4 * max(1.0, ref.abs().max().item())
        assert (fallback - ref).abs().max() <= 1e-4 * max(1.0, ref.abs().max().item())


@native
@pytest.mark.parametrize("gemm", ["bmm", "onednn"])
@pytest.mark.parametrize("tile", [6, 4, 2])
def test_native_reads_and_writes_channel_slices(tile, gemm):
    """A route's channel slice in, a concatenation's channel slice out (channel stride 1,
    pixel stride larger than the channel count): nothing outside the slice is touched."""
    torch.manual_seed(1)
    conv = nn.Conv2d(16, 8, 3, 1, 1)
    big = torch.randn(2, 40, 11, 9).contiguous(memory_format=torch.channels_last)
    x = big[:, 20:36]  # 16 channels, pixel stride 40
    out_big = torch.full((2, 24, 11, 9), 7.0).contiguous(memory_format=torch.channels_last)
    wg = WinogradConv2d(conv, 0.1, tile=tile, gemm=gemm)
    with torch.no_grad():
        ref = _reference(conv, x.contiguous(), 0.1)
        got = wg(x, out=out_big[:, 8:16])
    assert got.data_ptr() == out_big[:, 8:16].data_ptr()
    assert (out_big[:, 8:16] - ref).abs().max() <= 1e-4 * ref.abs().max().item()
    assert (out_big[:, :8] == 7).all() and (out_big[:, 16:] == 7).all()


@native
def test_native_in_inference_mode_and_after():
    """The workspace is a normal tensor: a call in inference mode, then one under no_grad."""
    conv = nn.Conv2d(32, 32, 3, 1, 1)
    x = torch.randn(1, 32, 20, 20).contiguous(memory_format=torch.channels_last)
    wg = WinogradConv2d(conv)
    with torch.inference_mode():
        a = wg(x)
    with torch.no_grad():
        b = wg(x)
    assert torch.equal(a, b)


@native
def test_autotune_fuses_the_activation_and_keeps_outputs():
    from yolov4.darknet.graph import Darknet

    cfg = """[net]
width=64
height=64
channels=3
[convolutional]
batch_normalize=1
filters=32
size=3
stride=1
pad=1
activation=leaky
[convolutional]
batch_normalize=1
filters=64
size=3
stride=1
pad=1
activation=leaky
[convolutional]
filters=64
size=3
stride=1
pad=1
activation=linear
"""
    from yolov4.darknet.cfg import parse_cfg_text

    torch.manual_seed(0)
    net = Darknet.from_cfg(parse_cfg_text(cfg)).eval().fuse()
    x = torch.rand(1, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = [t.clone() for t in net.layers[2](net.layers[1](net.layers[0](x)))[None]]
    report = []
    with torch.inference_mode():
        n = winograd_autotune(net, x, runs=1, margins=(math.inf,), report=report)  # always swap
        assert n == 2  # layers 1 and 2 (layer 0 has 3 input channels)
        got = net.layers[2](net.layers[1](net.layers[0](x)))
    assert isinstance(net.layers[1].conv, WinogradConv2d) and net.layers[1].conv.slope == 0.1
    assert isinstance(net.layers[1].act, nn.Identity)
    assert net.layers[2].conv.slope is None
    assert (got - ref[0]).abs().max() <= 1e-4 * ref[0].abs().max().item()
    assert [r[0] for r in report] == ["layers.1.conv", "layers.2.conv", "network"]


@native
def test_onednn_form_refuses_what_it_cannot_run():
    """The oneDNN form keeps only packed fp32 weights: autograd or another dtype is refused
    with a message, not run wrong; NCHW fp32 input is made channels-last first."""
    conv = nn.Conv2d(16, 8, 3, 1, 1)
    wg = WinogradConv2d(conv, 0.1, tile=4, gemm="onednn")
    x = torch.randn(1, 16, 10, 10)
    with torch.no_grad():
        assert (wg(x) - _reference(conv, x, 0.1)).abs().max() <= 1e-4
    with pytest.raises(RuntimeError, match="fp32 CPU inference only"):
        wg(x.requires_grad_())
    with pytest.raises(RuntimeError, match="fp32 CPU inference only"), torch.no_grad():
        wg(x.detach().double())
    with pytest.raises(ValueError, match="gemm"):
        WinogradConv2d(conv, gemm="mkl")
