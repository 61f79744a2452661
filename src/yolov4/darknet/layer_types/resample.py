"""Layers that only change the grid: ``[maxpool]``, ``[avgpool]``, ``[upsample]``, ``[reorg3d]``.

- maxpool (``parse_maxpool``): ``size`` defaults to ``stride`` (default 1), ``padding`` to
  ``size − 1`` (a total); out = ``(w + padding − size)//stride + 1``; BFLOPs ``k²·c·oh·ow``;
- avgpool: global average, ``(c, 1, 1)``;
- upsample: ``stride`` > 0 multiplies the grid, < 0 divides it; output times ``scale``;
- reorg3d: space-to-depth by ``stride`` (``reverse=1``: depth-to-space).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Sequence

from .base import BuildOptions, LayerSpec, LayerType, Shape, Shaped, io_text, positive

if TYPE_CHECKING:  # pragma: no cover
    from ..cfg import Section


# ---------------------------------------------------------------------------- [maxpool]
def maxpool_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    c, h, w = prev
    stride = positive(s, "stride", s.get_int("stride", 1))
    sx = positive(s, "stride_x", s.get_int("stride_x", stride))
    sy = positive(s, "stride_y", s.get_int("stride_y", stride))
    size = positive(s, "size", s.get_int("size", stride))
    padding = s.get_int("padding", size - 1)
    for key in ("maxpool_depth", "antialiasing"):
        if s.get_int(key, 0):
            raise s.error(f"key '{key}' is not supported by this implementation", key)
    oh = (h + padding - size) // sy + 1
    ow = (w + padding - size) // sx + 1
    if oh <= 0 or ow <= 0:
        raise s.error(f"input {w}x{h} is too small for a {size}x{size} maxpool")
    params = dict(size=size, stride=(sy, sx), padding=padding)
    return Shaped((c, oh, ow), bflops=size * size * c * oh * ow / 1e9, params=params)


def maxpool_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.pooling import MaxPool
    p = spec.params
    return MaxPool(p["size"], p["stride"], p["padding"])


def maxpool_summary(spec: LayerSpec) -> List[str]:
    k, (sy, sx) = spec.params["size"], spec.params["stride"]
    if sx == sy:
        head = f"max               {k:2d}x{k:2d}/{sx:2d}   "
    else:
        head = f"max              {k:2d}x{k:2d}/{sx:2d}x{sy:2d} "
    return [head + f"{io_text(spec)} {spec.bflops:5.3f} BF"]


# ---------------------------------------------------------------------------- [avgpool]
def avgpool_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    return Shaped((prev[0], 1, 1))


def avgpool_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.pooling import GlobalAvgPool
    return GlobalAvgPool()


def avgpool_summary(spec: LayerSpec) -> List[str]:
    c, h, w = spec.in_shape
    return [f"avg                     {w:4d} x{h:4d} x{c:4d} ->   {spec.out_shape[0]:4d}"]


# ---------------------------------------------------------------------------- [upsample]
def upsample_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    stride = s.get_int("stride", 2)
    if stride == 0:
        raise s.error("key 'stride': must not be 0", "stride")
    if stride > 0:
        out = (prev[0], prev[1] * stride, prev[2] * stride)
    else:
        out = (prev[0], prev[1] // -stride, prev[2] // -stride)
    return Shaped(out, params=dict(stride=stride, scale=s.get_float("scale", 1.0)))


def upsample_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.upsample import Upsample
    return Upsample(spec.params["stride"], spec.params["scale"])


def upsample_summary(spec: LayerSpec) -> List[str]:
    stride = spec.params["stride"]
    kind = "upsample" if stride > 0 else "downsample"
    return [f"{kind:<24s}{abs(stride):2d}x  {io_text(spec)}"]


# ---------------------------------------------------------------------------- [reorg3d]
def reorg_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    stride = positive(s, "stride", s.get_int("stride", 1))
    reverse = s.get_int("reverse", 0)
    if reverse:
        if prev[0] % (stride * stride):
            raise s.error(f"reverse reorg: channels {prev[0]} not divisible by "
                          f"{stride * stride}", "stride")
        out = (prev[0] // (stride * stride), prev[1] * stride, prev[2] * stride)
    else:
        out = (prev[0] * stride * stride, prev[1] // stride, prev[2] // stride)
    return Shaped(out, params=dict(stride=stride, reverse=reverse))


def reorg_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.reorg import Reorg3d
    return Reorg3d(spec.params["stride"], spec.params["reverse"])


def reorg_summary(spec: LayerSpec) -> List[str]:
    return [f"reorg                    /{spec.params['stride']:2d} {io_text(spec)}"]


TYPES = (
    LayerType("maxpool", maxpool_shape, maxpool_build, maxpool_summary, aliases=("max",)),
    LayerType("avgpool", avgpool_shape, avgpool_build, avgpool_summary, aliases=("avg",)),
    LayerType("upsample", upsample_shape, upsample_build, upsample_summary),
    LayerType("reorg3d", reorg_shape, reorg_build, reorg_summary),
)
