"""Static shape inference over cfg sections: per-layer sources, output shapes, weight counts, BFLOPs.

Pure Python (no tensors): the layer graph builds its modules from this, the weights reader
checks file sizes with it, and ``yolov4 info`` prints it. Rules follow Darknet's ``src/parser.c``
``parse_*`` functions and the ``make_*_layer`` size formulas (see DARKNET_SEMANTICS.md §1):

- relative layer indices (``layers=-4``, ``from=-3``) are relative to the layer's own index;
- conv ``pad=1`` means padding ``size//2``; out = ``(h + 2·pad·dil − dil·(size−1) − 1)//stride + 1``
  (Darknet's formula for dilation 1);
- maxpool ``size`` defaults to ``stride`` (default 1), ``padding`` to ``size − 1`` (a total),
  out = ``(w + padding − size)//stride + 1``;
- BFLOPs as Darknet prints them: conv ``2·(c/groups)·n·k²·out_h·out_w``, maxpool
  ``k²·c·out_h·out_w``, shortcut ``c·h·w·len(from)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from ..errors import CfgError
from .cfg import Section, split_net
from .yolo_settings import YoloSettings

Shape = Tuple[int, int, int]  # (channels, height, width)

SHORTCUT_WEIGHTS = {"none": "none", "per_feature": "per_feature", "per_layer": "per_feature",
                    "per_channel": "per_channel"}
SHORTCUT_NORMALIZATION = {"none": "none", "relu": "relu", "avg_relu": "relu",
                          "softmax": "softmax"}


@dataclass
class LayerSpec:
    """What one layer is, statically.

    Attributes:
        index: 0-based layer index (``[net]`` not counted), as Darknet numbers layers.
        type: canonical section type.
        section: the cfg section.
        sources: absolute indices of the extra inputs (route ``layers``, shortcut/sam/
            scale_channels ``from``); the previous layer is implied for all but route.
        in_shape: the previous layer's (or the network input's) ``(c, h, w)``.
        out_shape: this layer's output ``(c, h, w)``.
        weights: number of float32 values this layer holds in a ``.weights`` file.
        bflops: Darknet's billions of floating point operations for one image.
        params: extra typed parameters used by the graph (kernel size, stride, ...).
    """

    index: int
    type: str
    section: Section
    sources: List[int]
    in_shape: Shape
    out_shape: Shape
    weights: int = 0
    bflops: float = 0.0
    params: dict = field(default_factory=dict)


def _resolve(section: Section, key: str, index: int, values: Sequence[int]) -> List[int]:
    out = []
    for v in values:
        absolute = index + v if v < 0 else v
        if not 0 <= absolute < index:
            raise section.error(f"key '{key}': layer {v} resolves to {absolute}, which is not an "
                                f"earlier layer (this is layer {index})", key)
        out.append(absolute)
    return out


def _positive(section: Section, key: str, value: int, minimum: int = 1) -> int:
    if value < minimum:
        raise section.error(f"key '{key}': must be >= {minimum}, got {value}", key)
    return value


def _conv(s: Section, shape: Shape) -> Tuple[Shape, int, float, dict]:
    c, h, w = shape
    n = _positive(s, "filters", s.get_int("filters", 1))
    k = _positive(s, "size", s.get_int("size", 1))
    stride = _positive(s, "stride", s.get_int("stride", 1))
    sx = _positive(s, "stride_x", s.get_int("stride_x", stride))
    sy = _positive(s, "stride_y", s.get_int("stride_y", stride))
    dil = _positive(s, "dilation", s.get_int("dilation", 1))
    groups = _positive(s, "groups", s.get_int("groups", 1))
    pad = k // 2 if s.get_int("pad", 0) else s.get_int("padding", 0)
    bn = s.get_int("batch_normalize", 0)
    if bn not in (0, 1, 2):
        raise s.error(f"key 'batch_normalize': expected 0, 1 or 2, got {bn}", "batch_normalize")
    if s.get_int("cbn", 0):  # parse_convolutional: cbn=1 means batch_normalize=2
        bn = 2
    for key in ("share_index", "antialiasing", "deform", "binary", "xnor", "assisted_excitation"):
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
    return (n, oh, ow), floats, 2.0 * nweights * oh * ow / 1e9, params


def _maxpool(s: Section, shape: Shape) -> Tuple[Shape, float, dict]:
    c, h, w = shape
    stride = _positive(s, "stride", s.get_int("stride", 1))
    sx = _positive(s, "stride_x", s.get_int("stride_x", stride))
    sy = _positive(s, "stride_y", s.get_int("stride_y", stride))
    size = _positive(s, "size", s.get_int("size", stride))
    padding = s.get_int("padding", size - 1)
    for key in ("maxpool_depth", "antialiasing"):
        if s.get_int(key, 0):
            raise s.error(f"key '{key}' is not supported by this implementation", key)
    oh = (h + padding - size) // sy + 1
    ow = (w + padding - size) // sx + 1
    if oh <= 0 or ow <= 0:
        raise s.error(f"input {w}x{h} is too small for a {size}x{size} maxpool")
    params = dict(size=size, stride=(sy, sx), padding=padding)
    return (c, oh, ow), size * size * c * oh * ow / 1e9, params


def infer_layers(sections: Sequence[Section], width: Optional[int] = None,
                 height: Optional[int] = None, channels: Optional[int] = None) -> List[LayerSpec]:
    """Per-layer static description of a cfg at input size ``width x height``.

    Args:
        sections: ``[net]`` first, then the layers.
        width, height, channels: input size; default to the ``[net]`` values.

    Raises:
        CfgError: naming file and line for bad indices, mismatched shapes or bad values.
    """
    net, layers = split_net(sections)
    w = width if width is not None else net.get_int("width", 416)
    h = height if height is not None else net.get_int("height", 416)
    c = channels if channels is not None else net.get_int("channels", 3)
    if w <= 0 or h <= 0 or c <= 0:
        raise net.error(f"input size must be positive, got {w}x{h}x{c}")
    specs: List[LayerSpec] = []
    prev: Shape = (c, h, w)
    for i, s in enumerate(layers):
        t = s.type
        sources: List[int] = []
        floats, bflops, params = 0, 0.0, {}
        if t == "convolutional":
            out, floats, bflops, params = _conv(s, prev)
        elif t == "maxpool":
            out, bflops, params = _maxpool(s, prev)
        elif t == "avgpool":
            out = (prev[0], 1, 1)
        elif t == "upsample":
            stride = s.get_int("stride", 2)
            if stride == 0:
                raise s.error("key 'stride': must not be 0", "stride")
            if stride > 0:
                out = (prev[0], prev[1] * stride, prev[2] * stride)
            else:
                out = (prev[0], prev[1] // -stride, prev[2] // -stride)
            params = dict(stride=stride, scale=s.get_float("scale", 1.0))
        elif t == "route":
            sources = _resolve(s, "layers", i, s.get_ints("layers"))
            groups = _positive(s, "groups", s.get_int("groups", 1))
            group_id = s.get_int("group_id", 0)
            if not 0 <= group_id < groups:
                raise s.error(f"key 'group_id': {group_id} not in [0, {groups})", "group_id")
            shapes = [specs[j].out_shape for j in sources]
            if any(sh[1:] != shapes[0][1:] for sh in shapes):
                raise s.error("route inputs differ in height/width: " + ", ".join(
                    f"layer {j} {sh[2]}x{sh[1]}" for j, sh in zip(sources, shapes)))
            if any(sh[0] % groups for sh in shapes):
                raise s.error(f"groups={groups} does not divide the input channels", "groups")
            out = (sum(sh[0] // groups for sh in shapes), shapes[0][1], shapes[0][2])
            params = dict(groups=groups, group_id=group_id)
        elif t in ("shortcut", "sam", "scale_channels"):
            sources = _resolve(s, "from", i, s.get_ints("from"))
            if t != "shortcut" and len(sources) != 1:
                raise s.error(f"[{t}] takes exactly one 'from' layer", "from")
            other = specs[sources[0]].out_shape
            if t == "shortcut":
                for j in sources:
                    if specs[j].out_shape[1:] != prev[1:]:
                        raise s.error(f"shortcut from layer {j} has size "
                                      f"{specs[j].out_shape[2]}x{specs[j].out_shape[1]}, "
                                      f"previous layer {prev[2]}x{prev[1]}", "from")
                kind = s.get_str("weights_type", "none")
                norm = s.get_str("weights_normalization", "none")
                if kind not in SHORTCUT_WEIGHTS:
                    raise s.error(f"key 'weights_type': unknown value '{kind}'", "weights_type")
                if norm not in SHORTCUT_NORMALIZATION:
                    raise s.error(f"key 'weights_normalization': unknown value '{norm}'",
                                  "weights_normalization")
                kind, norm = SHORTCUT_WEIGHTS[kind], SHORTCUT_NORMALIZATION[norm]
                n = len(sources)
                floats = {"none": 0, "per_feature": n + 1, "per_channel": (n + 1) * prev[0]}[kind]
                out = prev
                bflops = prev[0] * prev[1] * prev[2] * n / 1e9
                params = dict(weights_type=kind, weights_normalization=norm)
            elif t == "sam":
                if other != prev:
                    raise s.error(f"[sam] needs equal shapes, got {prev} and {other}", "from")
                out = prev
            else:
                scale_wh = s.get_int("scale_wh", 0)
                need = (1, other[1], other[2]) if scale_wh else (other[0], 1, 1)
                if (prev[0], prev[1], prev[2]) != need and not (scale_wh and prev[1:] == other[1:]):
                    raise s.error(f"[scale_channels] previous layer {prev} does not fit "
                                  f"from-layer {other} (scale_wh={scale_wh})", "from")
                out = other
                params = dict(scale_wh=scale_wh)
        elif t == "reorg3d":
            stride = _positive(s, "stride", s.get_int("stride", 1))
            reverse = s.get_int("reverse", 0)
            if reverse:
                if prev[0] % (stride * stride):
                    raise s.error(f"reverse reorg: channels {prev[0]} not divisible by "
                                  f"{stride * stride}", "stride")
                out = (prev[0] // (stride * stride), prev[1] * stride, prev[2] * stride)
            else:
                out = (prev[0] * stride * stride, prev[1] // stride, prev[2] // stride)
            params = dict(stride=stride, reverse=reverse)
        elif t in ("dropout", "softmax"):
            out = prev
        elif t == "yolo":
            yolo = YoloSettings.from_section(s)
            if prev[0] != yolo.outputs_per_cell:
                raise s.error(f"the layer before [yolo] has {prev[0]} channels, but "
                              f"len(mask)*(classes+5) = {len(yolo.mask)}*({yolo.classes}+5) = "
                              f"{yolo.outputs_per_cell}", "classes")
            out = prev
            params = dict(classes=yolo.classes, num=yolo.num, mask=list(yolo.mask),
                          anchors=list(yolo.anchors), settings=yolo)
        else:
            raise CfgError(f"{s.source}:{s.line}: unknown layer type [{t}]")
        specs.append(LayerSpec(i, t, s, sources, prev, out, floats, bflops, params))
        prev = out
    return specs


def count_weights(sections: Sequence[Section], upto: Optional[int] = None) -> int:
    """Number of float32 values a ``.weights`` file holds for these sections (layers ``[0, upto)``).

    Shape inference runs at the ``[net]`` size; the count does not depend on it.
    """
    specs = infer_layers(sections)
    return sum(sp.weights for sp in specs[:upto])
