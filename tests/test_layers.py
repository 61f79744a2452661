"""Layer blocks against plain-Python transcriptions of Darknet's C loops (independent oracles)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from yolov4.darknet.cfg import make_section
from yolov4.errors import CfgError
from yolov4.layers.activations import ACTIVATIONS, make_activation
from yolov4.layers.attention import SAM, ScaleChannels
from yolov4.layers.merge import Route, Shortcut
from yolov4.layers.pooling import GlobalAvgPool, MaxPool
from yolov4.layers.reorg import Reorg3d
from yolov4.layers.softmax import Softmax
from yolov4.layers.upsample import Upsample


def _darknet_maxpool(x: np.ndarray, size: int, stride: int, padding: int) -> np.ndarray:
    """``src/maxpool_layer.c: forward_maxpool_layer`` transcribed (taps outside = -inf)."""
    b, c, h, w = x.shape
    oh, ow = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
    off = -(padding // 2)
    out = np.empty((b, c, oh, ow), np.float32)
    for n in range(b):
        for k in range(c):
            for i in range(oh):
                for j in range(ow):
                    best = -math.inf
                    for ny in range(size):
                        for nx in range(size):
                            cy, cx = off + i * stride + ny, off + j * stride + nx
                            if 0 <= cy < h and 0 <= cx < w:
                                best = max(best, x[n, k, cy, cx])
                    out[n, k, i, j] = best
    return out


@pytest.mark.parametrize("size,stride,padding,hw", [
    (2, 1, 1, (6, 6)),     # yolov3-tiny: pads right/bottom only
    (2, 2, 1, (7, 5)),     # odd input: ceil-mode like
    (2, 2, 1, (8, 8)),
    (5, 1, 4, (6, 7)),     # SPP
    (3, 2, 2, (9, 9)),
    (3, 2, 0, (9, 8)),     # explicit padding=0
    (4, 3, 5, (10, 11)),   # odd padding total
])
def test_maxpool_matches_darknet_loop(size, stride, padding, hw):
    x = -torch.rand(2, 3, *hw) - 0.1  # all negative: zero padding would win, -inf must not
    ours = MaxPool(size, (stride, stride), padding)(x).numpy()
    np.testing.assert_array_equal(ours, _darknet_maxpool(x.numpy(), size, stride, padding))


def test_avgpool_is_global_mean():
    x = torch.rand(2, 4, 5, 3)
    out = GlobalAvgPool()(x)
    assert out.shape == (2, 4, 1, 1)
    assert torch.allclose(out[1, 2, 0, 0], x[1, 2].sum() / 15)


def test_reorg3d_darknet_element_order():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    s = 2
    out = Reorg3d(s)(x)
    assert out.shape == (2, 12, 2, 3)
    for b in range(2):
        for dy in range(s):
            for dx in range(s):
                for c in range(3):
                    for j in range(2):
                        for i in range(3):  # out[b,(dy*s+dx)*C+c,j,i] = in[b,c,j*s+dy,i*s+dx]
                            assert out[b, (dy * s + dx) * 3 + c, j, i] == x[b, c, j * s + dy,
                                                                             i * s + dx]
    assert not torch.equal(out, torch.nn.functional.pixel_unshuffle(x, 2))
    assert torch.equal(Reorg3d(s, reverse=1)(out), x)


def test_upsample_nearest_scale_and_negative_stride():
    x = torch.rand(1, 2, 3, 4)
    up = Upsample(2, 0.5)(x)
    for y in range(6):
        for xx in range(8):
            assert up[0, 1, y, xx] == 0.5 * x[0, 1, y // 2, xx // 2]
    down = Upsample(-2, 1.0)(torch.ones(1, 1, 4, 6))
    assert torch.equal(down, torch.full((1, 1, 2, 3), 4.0))  # blocks are summed


def test_route_groups_take_contiguous_slices():
    a, b = torch.rand(1, 4, 2, 2), torch.rand(1, 6, 2, 2)
    out = Route([0, 1], groups=2, group_id=1)([a, b])
    assert torch.equal(out, torch.cat([a[:, 2:4], b[:, 3:6]], 1))


def _darknet_shortcut(prev, froms, weights, kind, norm):
    """``shortcut_multilayer_kernel`` (GPU) transcribed for one image, flat indices.

    relu normalisation uses ``lrelu(w) = w > 0.001 ? w : 0.001`` in numerator and sum.
    """
    c, h, w = prev.shape
    n = len(froms)
    out = np.empty_like(prev)
    step = h * w
    for idx in range(c * h * w):
        ch = idx // step
        def wgt(i):
            if kind == "none":
                return 1.0
            if kind == "per_feature":
                vals = [weights[k] for k in range(n + 1)]
                pick = i
            else:
                vals = [weights[k * c + ch] for k in range(n + 1)]
                pick = i
            if norm == "relu":
                lrelu = lambda v: v if v > 0.001 else 0.001  # noqa: E731
                return lrelu(vals[pick]) / (1e-4 + sum(lrelu(v) for v in vals))
            if norm == "softmax":
                m = max(vals)
                return math.exp(vals[pick] - m) / (1e-4 + sum(math.exp(v - m) for v in vals))
            return vals[pick]
        total = wgt(0) * prev.flat[idx]
        for i, f in enumerate(froms, start=1):
            if idx < f.size:
                total += wgt(i) * f.flat[idx]
        out.flat[idx] = total
    return out


@pytest.mark.parametrize("kind,norm", [("none", "none")] + [
    (k, n) for k in ("per_feature", "per_channel") for n in ("none", "relu", "softmax")])
def test_shortcut_multilayer_and_miwrc(kind, norm):
    torch.manual_seed(0)
    prev, f1, f2 = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    layer = Shortcut([0, 1], 4, torch.nn.Identity(), kind, norm)
    if layer.weight is not None:
        with torch.no_grad():
            layer.weight.copy_(torch.randn_like(layer.weight))
    out = layer(prev, [f1, f2]).detach().numpy()[0]
    weights = layer.weight.detach().numpy().ravel() if layer.weight is not None else None
    ref = _darknet_shortcut(prev.numpy()[0], [f1.numpy()[0], f2.numpy()[0]], weights, kind, norm)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_shortcut_channel_mismatch_uses_flat_indices():
    prev, small, big = torch.randn(1, 4, 2, 2), torch.randn(1, 2, 2, 2), torch.randn(1, 6, 2, 2)
    out = Shortcut([0, 1], 4, torch.nn.Identity())(prev, [small, big]).numpy()[0]
    ref = _darknet_shortcut(prev.numpy()[0], [small.numpy()[0], big.numpy()[0]], None,
                            "none", "none")
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_sam_and_scale_channels():
    prev, other = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    assert torch.equal(SAM(0, torch.nn.Identity())(prev, other), prev * other)
    s = torch.rand(2, 3, 1, 1)
    out = ScaleChannels(0, torch.nn.Identity())(s, other)
    assert torch.allclose(out[1, 2], s[1, 2, 0, 0] * other[1, 2])
    s_wh = torch.rand(2, 1, 4, 4)
    out = ScaleChannels(0, torch.nn.Identity(), scale_wh=1)(s_wh, other)
    assert torch.allclose(out[1, 2], s_wh[1, 0] * other[1, 2])


def test_softmax_groups():
    x = torch.randn(2, 6, 1, 1)
    out = Softmax(groups=2)(x)
    assert torch.allclose(out.view(2, 2, 3).sum(-1), torch.ones(2, 2))
    assert torch.allclose(out[0, :3, 0, 0], torch.softmax(x[0, :3, 0, 0], 0))


# Darknet's scalar activation formulas (src/activations.h), written independently
_REFERENCE = {
    "linear": lambda x: x,
    "logistic": lambda x: 1 / (1 + math.exp(-x)),
    "leaky": lambda x: x if x > 0 else 0.1 * x,
    "relu": lambda x: x * (x > 0),
    "relu6": lambda x: min(max(x, 0.0), 6.0),
    "tanh": lambda x: (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1),
    "elu": lambda x: (x >= 0) * x + (x < 0) * (math.exp(x) - 1),
    "selu": lambda x: (x >= 0) * 1.0507 * x + (x < 0) * 1.0507 * 1.6732 * (math.exp(x) - 1),
    "gelu": lambda x: 0.5 * x * (1 + math.tanh(0.797885 * x + 0.035677 * x ** 3)),
    "swish": lambda x: x / (1 + math.exp(-x)),
    "mish": lambda x: x * math.tanh(math.log1p(math.exp(x))),
    "hard_mish": lambda x: x if x > 0 else (x * x / 2 + x if x > -2 else 0.0),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_formulas(name):
    xs = [-7.0, -2.5, -2.0, -1.3, -0.2, 0.0, 0.4, 1.0, 5.5, 7.0]
    act = make_activation(make_section("convolutional", activation=name))
    out = act(torch.tensor(xs, dtype=torch.float64)).tolist()
    ref = [_REFERENCE[name](x) for x in xs]
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)


def test_unknown_activation_names_the_line():
    s = make_section("convolutional", activation="sparkle")
    s.source, s.key_lines["activation"] = "net.cfg", 12
    with pytest.raises(CfgError, match=r"net.cfg:12.*sparkle"):
        make_activation(s)
