"""Winograd convolution for fast fp32 CPU inference of 3x3 stride-1 convolutions.

Lavin & Gray (2016): an m x m output tile of a 3x3 convolution is
``Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`` over an (m+2) x (m+2) input tile ``d``, so the per-tile work
becomes (m+2)² independent matrix products ``[tiles, C_in] @ [C_in, C_out]``. F(4x4, 3x3)
needs 36 multiplies per tile and channel pair instead of 144 (4x fewer), F(6x6, 3x3) 64
instead of 324 (5.1x), F(2x2, 3x3) 16 instead of 36 (2.25x, with the smallest transformed
weights). fp32 error stays around 1e-5 relative, like OpenCV DNN's own Winograd kernels.

Two implementations of the same arithmetic: the transforms compiled in C
(:mod:`yolov4.runtime.winograd_native`, built at install time; fp32 channels-last CPU tensors,
F(6x6)/F(4x4)/F(2x2), with the bias and a leaky/relu activation fused into the output
transform, the products by ``torch.bmm`` or a oneDNN grouped 1x1 convolution) — 0.34-0.75x
of the pre-packed oneDNN direct kernels' time on yolov4-tiny's 3x3 layers here with hot
caches, 0.42-0.92x with cold ones (``benchmarks/winograd_layers.py [--cold]``) — and a torch
fallback (F(4x4)/F(2x2), any device or dtype, separate memory passes; rarely faster than
direct).

:func:`winograd_convert` swaps every eligible ``nn.Conv2d`` of a module (3x3, stride 1,
dilation 1, groups 1, padding 1, enough channels to pay off) for :class:`WinogradConv2d`;
the weights are transformed once. Inference only (no autograd through the transform caches).
:func:`yolov4.runtime.winograd_tune.winograd_autotune` swaps only where it measures a gain.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import winograd_native
from .packed import packing_available

#: F(4x4, 3x3) matrices: interpolation points 0, ±1, ±2, ∞ (6x6 input tiles, 36 products).
_BT4 = torch.tensor([[4, 0, -5, 0, 1, 0],
                     [0, -4, -4, 1, 1, 0],
                     [0, 4, -4, -1, 1, 0],
                     [0, -2, -1, 2, 1, 0],
                     [0, 2, -1, -2, 1, 0],
                     [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
_G4 = torch.tensor([[1 / 4, 0, 0],
                    [-1 / 6, -1 / 6, -1 / 6],
                    [-1 / 6, 1 / 6, -1 / 6],
                    [1 / 24, 1 / 12, 1 / 6],
                    [1 / 24, -1 / 12, 1 / 6],
                    [0, 0, 1]], dtype=torch.float64)
_AT4 = torch.tensor([[1, 1, 1, 1, 1, 0],
                     [0, 1, -1, 2, -2, 0],
                     [0, 1, 1, 4, 4, 0],
                     [0, 1, -1, 8, -8, 1]], dtype=torch.float64)
#: F(2x2, 3x3): points 0, ±1, ∞ (4x4 input tiles, 16 products; weights 16/9 instead of 36/9).
_BT2 = torch.tensor([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
                    dtype=torch.float64)
_G2 = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float64)
_AT2 = torch.tensor([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=torch.float64)
#: F(6x6, 3x3): points 0, ±1, ±2, ±1/2, ∞ (8x8 input tiles, 64 products; Lavin's / wincnn's
#: construction, the kernel OpenCV DNN uses).
_BT6 = torch.tensor([[-1, 0, 21 / 4, 0, -21 / 4, 0, 1, 0],
                     [0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0],
                     [0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0],
                     [0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0],
                     [0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0],
                     [0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0],
                     [0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0],
                     [0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1]], dtype=torch.float64)
_G6 = torch.tensor([[-1, 0, 0],
                    [-2 / 9, -2 / 9, -2 / 9],
                    [-2 / 9, 2 / 9, -2 / 9],
                    [1 / 90, 1 / 45, 2 / 45],
                    [1 / 90, -1 / 45, 2 / 45],
                    [32 / 45, 16 / 45, 8 / 45],
                    [32 / 45, -16 / 45, 8 / 45],
                    [0, 0, 1]], dtype=torch.float64)
_AT6 = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 0],
                     [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0],
                     [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0],
                     [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 0],
                     [0, 1, 1, 16, 16, 1 / 16, 1 / 16, 0],
                     [0, 1, -1, 32, -32, 1 / 32, -1 / 32, 1]], dtype=torch.float64)
_MATRICES = {6: (_BT6, _G6, _AT6), 4: (_BT4, _G4, _AT4), 2: (_BT2, _G2, _AT2)}


class WinogradConv2d(nn.Module):
    """A 3x3, stride-1, padding-1 convolution computed with Winograd F(m x m, 3x3), m = 6, 4, 2.

    Args:
        conv: the ``nn.Conv2d`` to replace (its weight and bias are copied and transformed).
        slope: None: the convolution alone; a number: followed by leaky ReLU with that negative
            slope (Darknet's ``leaky`` is 0.1, ``relu`` is 0), fused in the native path.
        tile: output tile size m: 6 (64 products per 36 outputs, 5.1x fewer multiplies than
            direct, 64/9 the weights), 4 (36 per 16, 4x fewer, 36/9 the weights) or 2 (16 per
            4, 2.25x fewer, 16/9 the weights: for small maps with many channels, where
            reading the weights dominates).
    Shapes: ``Tensor[B, C_in, H, W]`` -> ``Tensor[B, C_out, H, W]`` (any H, W); channels-last
    in gives channels-last out. ``forward(x, out=...)`` writes into ``out`` (the native path
    writes it directly, e.g. into a channel slice of a concatenation).
    """

    def __init__(self, conv: nn.Conv2d, slope: Optional[float] = None, tile: int = 4,
                 gemm: str = "bmm", input_size: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        if tile not in _MATRICES:
            raise ValueError(f"Winograd tile must be 6, 4 or 2, got {tile}")
        if gemm not in ("bmm", "onednn"):
            raise ValueError(f"Winograd gemm must be 'bmm' or 'onednn', got {gemm!r}")
        if gemm == "onednn" and not packing_available():
            raise ValueError("Winograd gemm='onednn' needs PyTorch's oneDNN "
                             "packed-convolution ops, which this build lacks")
        bt, g, at = _MATRICES[tile]
        n = tile + 2  # input tile size
        w = conv.weight.detach().double()  # [O, I, 3, 3]
        u = torch.einsum("ak,oikl,bl->abio", g, w, g)  # G g Gᵀ: [n, n, I, O]
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.tile, self.gemm = tile, gemm
        self.slope = None if slope is None else float(slope)
        u = u.reshape(n * n, self.in_channels, self.out_channels).float().contiguous()
        if gemm == "onednn":
            size = input_size or (1, self.in_channels, 32, 32)
            self.packed = winograd_native.pack_products(
                u, winograd_native.tile_count(size, tile))
            u = None
        torch_form = gemm == "bmm"  # the torch fallback needs the matrices; oneDNN's form none
        self.register_buffer("u", u)
        self.register_buffer("bt", torch.kron(bt, bt).float() if torch_form else None)  # [n², n²]
        self.register_buffer("at", torch.kron(at, at).float() if torch_form else None)  # [m², n²]
        bias = conv.bias.detach().float().clone() if conv.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: Tensor, out: Optional[Tensor] = None) -> Tensor:
        if self.gemm == "onednn":  # the native path only: fp32 CPU inference
            if not winograd_native.supports(x) and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            if not winograd_native.supports(x):
                raise RuntimeError(
                    "WinogradConv2d(gemm='onednn') runs fp32 CPU inference only (built "
                    f"extension, no autograd); got {x.dtype} on {x.device.type}")
            if out is not None and (out.stride(1) != 1 or out.dtype != torch.float32):
                out.copy_(winograd_native.conv3x3(x, self.packed, self.bias, self.slope,
                                                  None, self.tile, self.gemm))
                return out
            return winograd_native.conv3x3(x, self.packed, self.bias, self.slope, out,
                                           self.tile, self.gemm)
        if (self.u.dtype == torch.float32 and self.u.device.type == "cpu"
                and winograd_native.supports(x)
                and (out is None or (out.stride(1) == 1 and out.dtype == torch.float32))):
            return winograd_native.conv3x3(x, self.u, self.bias, self.slope, out, self.tile)
        y = self._torch_forward(x)
        if self.slope is not None:
            y = F.leaky_relu(y, self.slope) if self.slope else F.relu(y)
        if out is not None:
            out.copy_(y)
            return out
        return y

    def _torch_forward(self, x: Tensor) -> Tensor:
        m = self.tile
        n = m + 2
        b, c, h, w = x.shape
        th, tw = (h + m - 1) // m, (w + m - 1) // m
        t, o = b * th * tw, self.out_channels
        nhwc = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
            and not x.is_contiguous()
        if nhwc:  # channels-last in, channels-last out: every copy reads/writes C innermost
            xh = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, tw * m + 1 - w, 1, th * m + 1 - h))
            d = xh.unfold(1, n, m).unfold(2, n, m)  # [B, th, tw, C, n, n] view
            d = d.permute(4, 5, 0, 1, 2, 3).reshape(n * n, t * c)
        else:
            xp = F.pad(x, (1, tw * m + 1 - w, 1, th * m + 1 - h))
            d = xp.unfold(2, n, m).unfold(3, n, m)  # [B, C, th, tw, n, n] view
            d = d.permute(4, 5, 0, 2, 3, 1).reshape(n * n, t * c)  # the one input copy
        v = torch.mm(self.bt.to(d.dtype), d).view(n * n, t, c)  # Bᵀ d B
        p = torch.bmm(v, self.u.to(v.dtype))  # [n², T, O]
        y = torch.mm(self.at.to(p.dtype), p.view(n * n, t * o))  # Aᵀ p A: [m², T*O]
        bias = None if self.bias is None else self.bias.to(y.dtype)
        if nhwc:
            y = y.view(m, m, b, th, tw, o).permute(2, 3, 0, 4, 1, 5).reshape(b, th * m, tw * m, o)
            if th * m != h or tw * m != w:
                y = y[:, :h, :w]
            y = y + bias if bias is not None else y.contiguous()
            return y.permute(0, 3, 1, 2)  # NCHW view, channels-last memory
        y = y.view(m, m, b, th, tw, o).permute(2, 5, 3, 0, 4, 1).reshape(b, o, th * m, tw * m)
        if th * m != h or tw * m != w:
            y = y[:, :, :h, :w]
        return y + bias.view(1, -1, 1, 1) if bias is not None else y.contiguous()

    def extra_repr(self) -> str:
        act = "" if self.slope is None else f", leaky {self.slope:g}"
        return (f"{self.in_channels}, {self.out_channels}, kernel_size=3 "
                f"(Winograd F({self.tile}x{self.tile}, 3x3), {self.gemm}{act})")


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
