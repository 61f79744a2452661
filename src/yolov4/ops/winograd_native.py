"""ctypes binding of the compiled Winograd transforms (``_winograd.c``).

The C library is the optional extension ``yolov4.ops._winograd_native`` built by ``setup.py``
at install time (plain C with OpenMP, no Python headers). It is loaded on first use, never at
import; :func:`available` says whether it was built. :func:`conv3x3` runs one convolution:
input transform in C, the P products with ``torch.bmm`` (PyTorch's BLAS), output transform in
C with the bias and a leaky/relu activation fused.

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

_ABI_VERSION = 6
_lib: Optional[ctypes.CDLL] = None
_tried = False
_lock = threading.Lock()
_local = threading.local()  # per-thread workspace: concurrent callers never share buffers


def _open() -> Optional[ctypes.CDLL]:
    """The built library with its argument types set, or None (not built, or stale)."""
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
    lib.wino_input.argtypes = [i, vp, lg, lg, lg, vp, i, i, i, i, i]
    lib.wino_output.argtypes = [i, vp, vp, i, fl, vp, lg, lg, lg, i, i, i, i, i]
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


def conv3x3(x: Tensor, u: Tensor, bias: Optional[Tensor], slope: Optional[float],
            out: Optional[Tensor] = None, tile: int = 4) -> Tensor:
    """One 3x3, stride-1, padding-1 convolution by Winograd F(m x m, 3x3), m = 6, 4 or 2.

    Args:
        x: ``Tensor[B, C, H, W]`` fp32 with ``x.stride(1) == 1`` (see :func:`supports`).
        u: ``Tensor[P, C, O]``: the transformed weights ``G g Gᵀ``, P = (m + 2)².
        bias: ``Tensor[O]`` or None.
        slope: None for a linear output, else leaky ReLU with this negative slope (0: ReLU).
        out: optional ``Tensor[B, O, H, W]`` with ``out.stride(1) == 1`` to write into (e.g. a
            channel slice of a route's concatenation); a new channels-last tensor otherwise.
        tile: output tile size m.
    Returns:
        ``Tensor[B, O, H, W]`` (``out`` when given).
    """
    lib = _load()
    b, c, h, w = x.shape
    m = tile
    planes = (m + 2) ** 2
    if m not in (2, 4, 6) or u.shape[0] != planes:
        raise ValueError(f"F({m}x{m}, 3x3) weights must be [{planes}, C, O], got "
                         f"{list(u.shape)}")
    o = u.shape[2]
    t = b * ((h + m - 1) // m) * ((w + m - 1) // m)
    if out is None:
        out = torch.empty((b, o, h, w), memory_format=torch.channels_last)
    threads = torch.get_num_threads()
    v = _workspace("v", planes * t * c).view(planes, t, c)
    p = _workspace("m", planes * t * o).view(planes, t, o)
    sx, sy = x.stride(), out.stride()
    lib.wino_input(m, x.data_ptr(), sx[0], sx[2], sx[3], v.data_ptr(), b, h, w, c, threads)
    torch.bmm(v, u, out=p)
    lib.wino_output(m, p.data_ptr(), None if bias is None else bias.data_ptr(),
                    0 if slope is None else 1, float(slope or 0.0), out.data_ptr(), sy[0],
                    sy[2], sy[3], b, h, w, o, threads)
    return out
