"""ctypes binding of the compiled Winograd F(4x4, 3x3) transforms (``_winograd.c``).

The C library is the optional extension ``yolov4.ops._winograd_native`` built by ``setup.py``
at install time (plain C with OpenMP, no Python headers). It is loaded on first use, never at
import; :func:`available` says whether it was built. :func:`conv3x3` runs one convolution:
input transform in C, the 36 products with ``torch.bmm`` (BLAS), output transform in C with
the bias and a leaky/relu activation fused.

Only fp32 CPU tensors whose channel stride is 1 (channels-last memory, or a channel slice of
one) take this path; :class:`yolov4.ops.winograd.WinogradConv2d` decides.
"""
from __future__ import annotations

import ctypes
import importlib.util
import threading
from typing import Optional

import torch
from torch import Tensor

_ABI_VERSION = 4
_lib: Optional[ctypes.CDLL] = None
_tried = False
_lock = threading.Lock()
_local = threading.local()  # per-thread workspace: concurrent callers never share buffers


def _load() -> Optional[ctypes.CDLL]:
    global _lib, _tried
    with _lock:
        if _tried:
            return _lib
        _tried = True
        spec = importlib.util.find_spec("yolov4.ops._winograd_native")
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
        lib.wino_input.argtypes = [i, vp, lg, lg, lg, vp, lg, i, i, i, i, i]
        lib.wino_output.argtypes = [i, vp, lg, vp, i, fl, vp, lg, lg, lg, i, i, i, i, i]
        lib.wino_conv.argtypes = [i, vp, lg, lg, lg, vp, vp, vp, i, fl, vp, lg, lg, lg,
                                  i, i, i, i, i, lg, vp, i]
        for f in (lib.wino_input, lib.wino_output, lib.wino_conv):
            f.restype = None
        global _sgemm
        _sgemm = _find_sgemm()
        _lib = lib
        return lib


_sgemm: Optional[int] = None


def _find_sgemm() -> Optional[int]:
    """Address of the Fortran ``sgemm_`` that PyTorch's CPU library exports (MKL on x86
    builds), for the single-region kernel; None elsewhere (the torch.bmm path is used)."""
    import os

    libdir = os.path.join(os.path.dirname(torch.__file__), "lib")
    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"):
        path = os.path.join(libdir, name)
        if not os.path.exists(path):
            continue
        try:
            return ctypes.cast(getattr(ctypes.CDLL(path), "sgemm_"), ctypes.c_void_p).value
        except (OSError, AttributeError):
            return None
    return None


def available() -> bool:
    """True when the compiled transforms were built with this install and load."""
    return _load() is not None


def single_region() -> bool:
    """True when the one-region kernel can run: the library loaded and PyTorch exports a
    BLAS ``sgemm_`` to call from it."""
    return available() and _sgemm is not None


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


def conv3x3(x: Tensor, u: Tensor, bias: Optional[Tensor], slope: Optional[float],
            out: Optional[Tensor] = None, tile: int = 4, block: int = 0) -> Tensor:
    """One 3x3, stride-1, padding-1 convolution by Winograd F(m x m, 3x3), m = 6, 4 or 2.

    Args:
        x: ``Tensor[B, C, H, W]`` fp32 with ``x.stride(1) == 1`` (see :func:`supports`).
        u: ``Tensor[S·P, C, O]``: the transformed weights ``G g Gᵀ`` (``[P, C, O]``, P = 36
            for F(4x4, 3x3), 64 for F(6x6), 16 for F(2x2)) repeated ``S`` times. ``S > 1`` splits the tiles into ``S`` equal runs laid out one
            after the other, so that ``torch.bmm``, which hands each thread an equal run of the
            ``S·P`` products, gives thread ``k`` the tiles the transforms' thread ``k`` wrote
            and will read (S = the thread count): no cache lines cross cores between the steps.
            That costs ``S`` copies of the weights, so it pays where activations outweigh them.
        bias: ``Tensor[O]`` or None.
        slope: None for a linear output, else leaky ReLU with this negative slope (0: ReLU).
        out: optional ``Tensor[B, O, H, W]`` with ``out.stride(1) == 1`` to write into (e.g. a
            channel slice of a route's concatenation); a new channels-last tensor otherwise.
        tile: output tile size m: 6, 4 or 2 for F(m x m, 3x3).
        block: > 0: run the whole convolution in one parallel region (``wino_conv``): each
            thread transforms ``block`` tiles at a time, multiplies them with the BLAS
            ``sgemm_`` PyTorch links (single-threaded inside the region) and writes their
            outputs (``u`` must then be ``[P, C, O]``); 0, or no ``sgemm_`` found: input
            transform, ``torch.bmm``, output transform (three parallel regions).
    Returns:
        ``Tensor[B, O, H, W]`` (``out`` when given).
    """
    lib = _load()
    b, c, h, w = x.shape
    m = tile
    planes = (m + 2) ** 2
    if m not in (2, 4, 6) or u.shape[0] % planes:
        raise ValueError(f"F({m}x{m}, 3x3) weights must be [S·{planes}, C, O], got "
                         f"{list(u.shape)}")
    split, o = u.shape[0] // planes, u.shape[2]
    t = b * ((h + m - 1) // m) * ((w + m - 1) // m)
    if out is None:
        out = torch.empty((b, o, h, w), memory_format=torch.channels_last)
    threads = torch.get_num_threads()
    sx, sy = x.stride(), out.stride()
    bias_ptr = None if bias is None else bias.data_ptr()
    act, slope_f = (0, 0.0) if slope is None else (1, float(slope))
    if block and _sgemm is not None:
        block = min(int(block), (t + threads - 1) // threads)
        ws = _workspace("ws", threads * planes * block * (c + o))
        lib.wino_conv(m, x.data_ptr(), sx[0], sx[2], sx[3], u.data_ptr(), _sgemm, bias_ptr,
                      act, slope_f, out.data_ptr(), sy[0], sy[2], sy[3], b, h, w, c, o, block,
                      ws.data_ptr(), threads)
        return out
    chunk = (t + split - 1) // split
    v = _workspace("v", split * planes * chunk * c).view(split * planes, chunk, c)
    p = _workspace("m", split * planes * chunk * o).view(split * planes, chunk, o)
    lib.wino_input(m, x.data_ptr(), sx[0], sx[2], sx[3], v.data_ptr(), chunk, b, h, w, c,
                   threads)
    torch.bmm(v, u, out=p)
    lib.wino_output(m, p.data_ptr(), chunk, bias_ptr, act, slope_f, out.data_ptr(), sy[0],
                    sy[2], sy[3], b, h, w, o, threads)
    return out
