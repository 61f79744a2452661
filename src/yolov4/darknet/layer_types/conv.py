"""``[convolutional]`` (alias ``[conv]``): Darknet's ``parse_convolutional`` / ``make_convolutional_layer``.

- ``pad=1`` means padding ``size//2`` (else ``padding``, default 0);
  out = ``(h + 2·pad·dil − dil·(size−1) − 1)//stride + 1`` (Darknet's formula for dilation 1);
- ``batch_normalize`` 0, 1 or 2 (CmBN; ``cbn=1`` means 2);
- BFLOPs ``2·(c/groups)·n·k²·out_h·out_w``;
- ``.weights``: biases[n]; with BN scales[n], rolling_mean[n], rolling_variance[n]; then weights
  ``[n, c/groups, k, k]`` (OIHW).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Sequence

from .base import BuildOptions, LayerSpec, LayerType, Shape, Shaped, io_text, positive

if TYPE_CHECKING:  # pragma: no cover
    from ..cfg import Section

_UNSUPPORTED = ("share_index", "antialiasing", "deform", "binary", "xnor", "assisted_excitation")


def _batch_normalize(s: "Section") -> int:
    bn = s.get_int("batch_normalize", 0)
    if bn not in (0, 1, 2):
        raise s.error(f"key 'batch_normalize': expected 0, 1 or 2, got {bn}", "batch_normalize")
    return 2 if s.get_int("cbn", 0) else bn  # parse_convolutional: cbn=1 means batch_normalize=2


def shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    c, h, w = prev
    n = positive(s, "filters", s.get_int("filters", 1))
    k = positive(s, "size", s.get_int("size", 1))
    stride = positive(s, "stride", s.get_int("stride", 1))
    sx = positive(s, "stride_x", s.get_int("stride_x", stride))
    sy = positive(s, "stride_y", s.get_int("stride_y", stride))
    dil = positive(s, "dilation", s.get_int("dilation", 1))
    groups = positive(s, "groups", s.get_int("groups", 1))
    pad = k // 2 if s.get_int("pad", 0) else s.get_int("padding", 0)
    bn = _batch_normalize(s)
    for key in _UNSUPPORTED:
        if s.get_int(key, 0) not in (0, -1000000000):
            raise s.error(f"key '{key}' is not supported by this implementation", key)
    if c % groups or n % groups:
        raise s.error(f"groups={groups} must divide input channels {c} and filters {n}",
                      "groups")
    oh = (h + 2 * pad * dil - dil * (k - 1) - 1) // sy + 1
    ow = (w + 2 * pad * dil - dil * (k - 1) - 1) // sx + 1
    if oh <= 0 or ow <= 0:
        raise s.error(f"input {w}x{h} is too small for a {k}x{k} convolution")
    nweights = n * (c // groups) * k * k
    floats = n + (3 * n if bn else 0) + nweights
    params = dict(filters=n, size=k, stride=(sy, sx), dilation=dil, groups=groups, pad=pad,
                  batch_normalize=bn)
    return Shaped((n, oh, ow), [], floats, 2.0 * nweights * oh * ow / 1e9, params,
                  floats - (2 * n if bn else 0))


def build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.activations import make_activation
    from ...layers.conv import ConvBNAct
    p = spec.params
    return ConvBNAct(spec.in_shape[0], p["filters"], p["size"], p["stride"], p["pad"],
                     p["dilation"], p["groups"], p["batch_normalize"],
                     make_activation(spec.section), options.bn_eps)


def tensors(module: Any, spec: LayerSpec) -> List[Any]:
    """With BN ``[bn.bias, bn.weight, bn.running_mean, bn.running_var, conv.weight]``, without
    ``[conv.bias, conv.weight]``; a conv whose BN was folded (``fuse``) cannot be mapped."""
    conv, bn = module.conv, module.bn
    if getattr(bn, "running_var", None) is not None:
        return [bn.bias, bn.weight, bn.running_mean, bn.running_var, conv.weight]
    if spec.params["batch_normalize"]:
        from ...errors import WeightsError
        raise WeightsError("a fused network cannot be read or written as Darknet weights "
                           "(its BN layers are folded); build it again from the cfg")
    return [conv.bias, conv.weight]


def summary(spec: LayerSpec) -> List[str]:
    p = spec.params
    n, k, (sy, sx) = p["filters"], p["size"], p["stride"]
    text = "conv  " + (f"{n:5d}/{p['groups']:4d} " if p["groups"] > 1 else f"{n:5d}      ")
    if sx != sy:
        text += f"{k:2d}x{k:2d}/{sx:2d}x{sy:2d} "
    elif p["dilation"] > 1:
        text += f"{k:2d} x{k:2d}/{sx:2d}({p['dilation']:1d})"
    else:
        text += f"{k:2d} x{k:2d}/{sx:2d}   "
    return [text + f"{io_text(spec)} {spec.bflops:5.3f} BF"]


CONVOLUTIONAL = LayerType("convolutional", shape, build, summary, tensors, aliases=("conv",))
TYPES = (CONVOLUTIONAL,)
