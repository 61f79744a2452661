"""Winograd F(4x4, 3x3) convolution for fast fp32 CPU inference of 3x3 stride-1 convolutions.

Lavin & Gray (2016): a 4x4 output tile of a 3x3 convolution is ``Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A``
over a 6x6 input tile ``d``, so the per-tile work becomes 36 independent matrix products
``[tiles, C_in] @ [C_in, C_out]`` — 4x fewer multiplies than direct convolution (36 instead of
144 per tile and channel pair). Interpolation points 0, ±1, ±2, ∞ (the usual F(4, 3) matrices);
fp32 error stays around 1e-5 relative, like OpenCV DNN's own Winograd kernels.

:func:`winograd_convert` swaps every eligible ``nn.Conv2d`` of a module (3x3, stride 1,
dilation 1, groups 1, padding 1, enough channels to pay off) for :class:`WinogradConv2d`;
the weights are transformed once. Inference only (no autograd through the transform caches).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_BT = torch.tensor([[4, 0, -5, 0, 1, 0],
                    [0, -4, -4, 1, 1, 0],
                    [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0],
                    [0, 2, -1, -2, 1, 0],
                    [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
_G = torch.tensor([[1 / 4, 0, 0],
                   [-1 / 6, -1 / 6, -1 / 6],
                   [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6],
                   [1 / 24, -1 / 12, 1 / 6],
                   [0, 0, 1]], dtype=torch.float64)
_AT = torch.tensor([[1, 1, 1, 1, 1, 0],
                    [0, 1, -1, 2, -2, 0],
                    [0, 1, 1, 4, 4, 0],
                    [0, 1, -1, 8, -8, 1]], dtype=torch.float64)


class WinogradConv2d(nn.Module):
    """A 3x3, stride-1, padding-1 convolution computed with Winograd F(4x4, 3x3).

    Args:
        conv: the ``nn.Conv2d`` to replace (its weight and bias are copied and transformed).
    Shapes: ``Tensor[B, C_in, H, W]`` -> ``Tensor[B, C_out, H, W]`` (any H, W).
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        w = conv.weight.detach().double()  # [O, I, 3, 3]
        u = torch.einsum("ak,oikl,bl->abio", _G, w, _G)  # G g Gᵀ: [6, 6, I, O]
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.register_buffer("u", u.reshape(36, self.in_channels, self.out_channels)
                             .float().contiguous())
        self.register_buffer("bt", torch.kron(_BT, _BT).float())  # [36, 36] on (i, j) flat
        self.register_buffer("at", torch.kron(_AT, _AT).float())  # [16, 36]
        bias = conv.bias.detach().float().clone() if conv.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        th, tw = (h + 3) // 4, (w + 3) // 4
        t, o = b * th * tw, self.out_channels
        nhwc = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
            and not x.is_contiguous()
        if nhwc:  # channels-last in, channels-last out: every copy reads/writes C innermost
            xh = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, tw * 4 + 1 - w, 1, th * 4 + 1 - h))
            d = xh.unfold(1, 6, 4).unfold(2, 6, 4)  # [B, th, tw, C, 6, 6] view
            d = d.permute(4, 5, 0, 1, 2, 3).reshape(36, t * c)
        else:
            xp = F.pad(x, (1, tw * 4 + 1 - w, 1, th * 4 + 1 - h))
            d = xp.unfold(2, 6, 4).unfold(3, 6, 4)  # [B, C, th, tw, 6, 6] view
            d = d.permute(4, 5, 0, 2, 3, 1).reshape(36, t * c)  # the one input copy
        v = torch.mm(self.bt.to(d.dtype), d).view(36, t, c)  # Bᵀ d B
        m = torch.bmm(v, self.u.to(v.dtype))  # [36, T, O]
        y = torch.mm(self.at.to(m.dtype), m.view(36, t * o))  # Aᵀ m A: [16, T*O]
        bias = None if self.bias is None else self.bias.to(y.dtype)
        if nhwc:
            y = y.view(4, 4, b, th, tw, o).permute(2, 3, 0, 4, 1, 5).reshape(b, th * 4, tw * 4, o)
            if th * 4 != h or tw * 4 != w:
                y = y[:, :h, :w]
            y = y + bias if bias is not None else y.contiguous()
            return y.permute(0, 3, 1, 2)  # NCHW view, channels-last memory
        y = y.view(4, 4, b, th, tw, o).permute(2, 5, 3, 0, 4, 1).reshape(b, o, th * 4, tw * 4)
        if th * 4 != h or tw * 4 != w:
            y = y[:, :, :h, :w]
        return y + bias.view(1, -1, 1, 1) if bias is not None else y.contiguous()

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size=3 (Winograd F(4x4, 3x3))"


def eligible(conv: nn.Module, min_channels: int = 32) -> bool:
    """3x3, stride 1, padding 1, dilation 1, groups 1, both channel counts >= ``min_channels``."""
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros" and conv.in_channels >= min_channels
            and conv.out_channels >= min_channels)


@torch.no_grad()
def winograd_convert(module: nn.Module, min_channels: int = 32) -> int:
    """Replace eligible ``nn.Conv2d`` children (recursively, in place); returns how many."""
    count = 0
    for name, child in list(module.named_children()):
        if eligible(child, min_channels):
            setattr(module, name, WinogradConv2d(child).to(child.weight.device))
            count += 1
        else:
            count += winograd_convert(child, min_channels)
    return count


@torch.no_grad()
def winograd_autotune(module: nn.Module, example: Tensor, runs: int = 5,
                      min_channels: int = 32, margin: float = 0.8) -> int:
    """Replace an eligible conv only where Winograd is measured faster on this machine.

    Runs ``module(example)`` once to record each eligible conv's input, times the direct
    convolution (pre-packed by oneDNN, as :func:`yolov4.optimize.pack_convolutions` would run
    it) and Winograd alternately (median of ``runs``) on it, and swaps Winograd in where it takes less
    than ``margin`` of the direct time (a margin, as timings on a busy CPU are noisy); then
    keeps those swaps only if the whole ``module(example)`` is faster with them.
    Returns how many were swapped.
    """
    import time

    inputs = {}
    hooks = []
    for name, m in module.named_modules():
        if eligible(m, min_channels):
            hooks.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: inputs.__setitem__(name, inp[0])))
    try:
        module(example)
    finally:
        for h in hooks:
            h.remove()

    def timed(fa, fb, x):
        fa(x)
        fb(x)
        ta, tb = [], []
        for _ in range(runs):
            for f, ts in ((fa, ta), (fb, tb)):
                t = time.perf_counter()
                f(x)
                ts.append(time.perf_counter() - t)
        return sorted(ta)[runs // 2], sorted(tb)[runs // 2]

    swaps = []
    for name, x in inputs.items():
        parent_name, _, attr = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        conv = getattr(parent, attr)
        wg = WinogradConv2d(conv).to(conv.weight.device)
        direct = _packed(conv, x)
        t_wg, t_direct = timed(wg, direct, x)
        if t_wg < margin * t_direct:
            swaps.append((parent, attr, direct, wg))
    if not swaps:
        return 0
    originals = [getattr(parent, attr) for parent, attr, _, _ in swaps]

    def use(winograd: bool):
        def run(x):
            for parent, attr, conv, wg in swaps:
                setattr(parent, attr, wg if winograd else conv)
            module(x)
        return run

    # per-layer wins do not always add up (caches, layouts): keep them only if the whole
    # network is faster with them
    t_wg, t_direct = timed(use(True), use(False), example)
    keep = t_wg < t_direct
    for (parent, attr, _, wg), conv in zip(swaps, originals):
        setattr(parent, attr, wg if keep else conv)
    return len(swaps) if keep else 0


def _packed(conv: nn.Conv2d, x: Tensor) -> nn.Module:
    """The direct convolution Winograd competes with: the pre-packed oneDNN kernel that
    :func:`yolov4.optimize.pack_convolutions` would use (fp32 CPU), else ``conv`` itself."""
    from ..optimize import PackedConv2d, packing_available

    if packing_available() and x.device.type == "cpu" and x.dtype == torch.float32 \
            and conv.padding_mode == "zeros":
        return PackedConv2d(conv, x.shape)
    return conv
