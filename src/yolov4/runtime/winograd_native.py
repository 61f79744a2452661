"""ctypes binding of the compiled Winograd transforms (``_winograd.c``).

The C library is the optional extension ``yolov4.runtime._winograd_native`` built by ``setup.py``
at install time (plain C with OpenMP, no Python headers). It is loaded on first use, never at
import; :func:`available` says whether it was built. :func:`conv3x3` runs one convolution:
input transform in C, the P products, output transform in C with the bias and a leaky/relu
activation fused. The products run as one ``torch.bmm`` (PyTorch's BLAS) or as one grouped
1x1 convolution of oneDNN, whichever :func:`yolov4.runtime.winograd_tune.winograd_autotune` measures
faster for the layer.

Only fp32 CPU tensors whose channel stride is 1 (channels-last memory, or a channel slice of
one) take this path; :class:`yolov4.runtime.winograd.WinogradConv2d` decides.
"""
from __future__ import annotations

import ctypes
import importlib.util
import threading
from typing import Optional

import torch
from torch import Tensor

_ABI_VERSION = 7
_lib: Optional[ctypes.CDLL] = None
_tried = False
_lock = threading.Lock()
_local = threading.local()  # per-thread workspace: concurrent callers never share buffers


def _open() -> Optional[ctypes.CDLL]:
    """The built library with its argument types set, or None (not built, or stale)."""
    spec = importlib.util.find_spec("yolov4.runtime._winograd_native")
    if spec is None or not spec.origin:
        return None
    try:
        # torch is imported (above), so its OpenMP runtime is the one the library binds to
        lib = ctypes.CDLL(spec.origin)
        if lib.wino_abi_version() != _ABI_VERSION:
            return None
    except (OSError, AttributeError):
        return None
    vp, i, lg, fl = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_float
    lib.wino_input.argtypes = [i, vp, lg, lg, lg, vp, lg, lg, i, i, i, i, i]
    lib.wino_output.argtypes = [i, vp, lg, lg, vp, i, fl, vp, lg, lg, lg, i, i, i, i, i]
    lib.wino_input.restype = lib.wino_output.restype = None
    return lib


def _load() -> Optional[ctypes.CDLL]:
    global _lib, _tried
    if _tried:  # every Winograd call asks: no lock once decided
        return _lib
    with _lock:
        if not _tried:
            _lib = _open()
            _tried = True  # set after _lib, so the unlocked read above never sees a gap
        return _lib


def available() -> bool:
    """True when the compiled transforms were built with this install and load."""
    return _load() is not None


def supports(x: Tensor) -> bool:
    """True when ``x`` (``Tensor[B, C, H, W]``) can take the native path: fp32 on the CPU, no
    autograd, channel stride 1 (channels-last memory or a channel slice of it)."""
    return (x.dim() == 4 and x.device.type == "cpu" and x.dtype == torch.float32
            and not (x.requires_grad and torch.is_grad_enabled())
            and (x.stride(1) == 1 or x.shape[1] == 1) and available())


def _workspace(name: str, numel: int) -> Tensor:
    """A grow-only fp32 buffer of this thread, shared by every layer (they run one by one)."""
    buf = getattr(_local, name, None)
    if buf is None or buf.numel() < numel:
        with torch.inference_mode(False):  # a normal tensor: usable in and out of that mode
            buf = torch.empty(numel)
        setattr(_local, name, buf)
    return buf[:numel]


def pack_products(u: Tensor, tiles: int) -> Tensor:
    """The transformed weights ``u`` (``Tensor[P, C, O]``) as the weights of a grouped 1x1
    convolution with P groups (``[P * O, C, 1, 1]``, reordered once for oneDNN): the P products
    of every tile as one oneDNN call, for :func:`conv3x3` with ``gemm="onednn"``. ``tiles``:
    the tile count the reorder is tuned for (other counts still work)."""
    planes, c, o = u.shape
    w = u.permute(0, 2, 1).reshape(planes * o, c, 1, 1).contiguous(
        memory_format=torch.channels_last)
    return torch.ops.mkldnn._reorder_convolution_weight(
        w, [0, 0], [1, 1], [1, 1], planes, [1, planes * c, max(1, int(tiles)), 1])


def tile_count(shape, tile: int) -> int:
    """Tiles of an m x m Winograd output tiling of ``Tensor[B, C, H, W]`` (``shape``)."""
    b, _, h, w = shape
    return b * ((h + tile - 1) // tile) * ((w + tile - 1) // tile)


def conv3x3(x: Tensor, weight: Tensor, bias: Optional[Tensor], slope: Optional[float],
            out: Optional[Tensor] = None, tile: int = 4, gemm: str = "bmm") -> Tensor:
    """One 3x3, stride-1, padding-1 convolution by Winograd F(m x m, 3x3), m = 6, 4 or 2.

    Args:
        x: ``Tensor[B, C, H, W]`` fp32 with ``x.stride(1) == 1`` (see :func:`supports`).
        weight: the transformed weights ``G g Gᵀ``, P = (m + 2)²: ``Tensor[P, C, O]`` for
            ``gemm="bmm"``; their :func:`pack_products` form for ``gemm="onednn"``.
        bias: ``Tensor[O]`` or None.
        slope: None for a linear output, else leaky ReLU with this negative slope (0: ReLU).
        out: optional ``Tensor[B, O, H, W]`` with ``out.stride(1) == 1`` to write into (e.g. a
            channel slice of a route's concatenation); a new channels-last tensor otherwise.
        tile: output tile size m.
        gemm: how the P products ``[T, C] @ [C, O]`` run: ``"bmm"``, one ``torch.bmm`` over
            plane-major ``[P, T, C]`` (PyTorch's BLAS); ``"onednn"``, one grouped 1x1
            convolution over tile-major ``[T, P, C]`` (oneDNN's JIT kernels: faster for many
            channels, e.g. 0.6x of ``bmm``'s time at 13x13 x 512).
    Returns:
        ``Tensor[B, O, H, W]`` (``out`` when given).
    """
    lib = _load()
    b, c, h, w = x.shape
    m = tile
    planes = (m + 2) ** 2
    if m not in (2, 4, 6) or gemm not in ("bmm", "onednn") or \
            weight.shape[0] % planes or (gemm == "bmm" and weight.shape[0] != planes):
        raise ValueError(f"F({m}x{m}, 3x3) {gemm} weights: got {list(weight.shape)}")
    o = weight.shape[2] if gemm == "bmm" else weight.shape[0] // planes
    t = tile_count(x.shape, m)
    if out is None:
        out = torch.empty((b, o, h, w), memory_format=torch.channels_last)
    threads = torch.get_num_threads()
    v = _workspace("v", planes * t * c)
    sx, sy = x.stride(), out.stride()
    if gemm == "bmm":
        lib.wino_input(m, x.data_ptr(), sx[0], sx[2], sx[3], v.data_ptr(), c, t * c, b, h, w,
                       c, threads)
        p = _workspace("m", planes * t * o).view(planes, t, o)
        torch.bmm(v.view(planes, t, c), weight, out=p)
        pt, pp = o, t * o
    else:
        lib.wino_input(m, x.data_ptr(), sx[0], sx[2], sx[3], v.data_ptr(), planes * c, c, b,
                       h, w, c, threads)
        vin = v.view(1, t, 1, planes * c).permute(0, 3, 1, 2)  # [1, P*C, T, 1] channels-last
        p = torch.ops.mkldnn._convolution_pointwise(
            vin, weight, None, [0, 0], [1, 1], [1, 1], planes, "none", [], "")
        if not p.is_contiguous(memory_format=torch.channels_last):
            p = p.contiguous(memory_format=torch.channels_last)
        pt, pp = planes * o, o
    lib.wino_output(m, p.data_ptr(), pt, pp, None if bias is None else bias.data_ptr(),
                    0 if slope is None else 1, float(slope or 0.0), out.data_ptr(), sy[0],
                    sy[2], sy[3], b, h, w, o, threads)
    return out
