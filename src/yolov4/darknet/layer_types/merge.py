"""Layers that read earlier layers: ``[route]``, ``[shortcut]``, ``[sam]``, ``[scale_channels]``.

Relative indices (``layers=-4``, ``from=-3``) are relative to the layer's own index.

- route (``parse_route``): concatenates ``layers`` along channels; with ``groups`` each input
  contributes its ``group_id``-th channel group;
- shortcut (``parse_shortcut``): adds ``from`` layers to the previous one, optionally weighted
  (``weights_type`` none|per_feature|per_channel, ``weights_normalization``
  none|relu|softmax); BFLOPs ``c·h·w·len(from)``; ``.weights``: ``n+1`` (per_feature) or
  ``(n+1)·C`` (per_channel) weights;
- sam: previous × ``from`` (equal shapes); scale_channels: ``from`` × previous
  (``(C, 1, 1)``, or ``(1, H, W)`` with ``scale_wh``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Sequence

from .base import BuildOptions, LayerSpec, LayerType, Shape, Shaped, positive, resolve

if TYPE_CHECKING:  # pragma: no cover
    from ..cfg import Section

SHORTCUT_WEIGHTS = {"none": "none", "per_feature": "per_feature", "per_layer": "per_feature",
                    "per_channel": "per_channel"}
SHORTCUT_NORMALIZATION = {"none": "none", "relu": "relu", "avg_relu": "relu",
                          "softmax": "softmax"}
_WEIGHTS_TYPE = {"none": 0, "per_feature": 1, "per_channel": 2}
_WEIGHTS_NORM = {"none": 0, "relu": 1, "softmax": 2}


def _activation(spec: LayerSpec) -> Any:
    from ...layers.activations import make_activation
    return make_activation(spec.section)


def _one_source(s: "Section", index: int, specs: Sequence[LayerSpec]) -> List[int]:
    sources = resolve(s, "from", index, s.get_ints("from"))
    if len(sources) != 1:
        raise s.error(f"[{s.type}] takes exactly one 'from' layer", "from")
    return sources


# ---------------------------------------------------------------------------- [route]
def route_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    sources = resolve(s, "layers", index, s.get_ints("layers"))
    groups = positive(s, "groups", s.get_int("groups", 1))
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
    return Shaped(out, sources, params=dict(groups=groups, group_id=group_id))


def route_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.merge import Route
    return Route(spec.sources, spec.params["groups"], spec.params["group_id"])


def route_summary(spec: LayerSpec) -> List[str]:
    p, (oc, oh, ow) = spec.params, spec.out_shape
    text = "route  " + " ".join(str(j) for j in spec.sources)
    group = f"{p['group_id'] + 1}/{p['groups']}" if p["groups"] > 1 else ""
    return [f"{text:<20s}{group:>18s} -> {ow:4d} x{oh:4d} x{oc:4d} "]


# ---------------------------------------------------------------------------- [shortcut]
def shortcut_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    sources = resolve(s, "from", index, s.get_ints("from"))
    for j in sources:
        other = specs[j].out_shape
        if other[1:] != prev[1:]:
            raise s.error(f"shortcut from layer {j} has size {other[2]}x{other[1]}, "
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
    return Shaped(prev, sources, floats, prev[0] * prev[1] * prev[2] * n / 1e9,
                  dict(weights_type=kind, weights_normalization=norm))


def shortcut_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.merge import Shortcut
    p = spec.params
    return Shortcut(spec.sources, spec.out_shape[0], _activation(spec), p["weights_type"],
                    p["weights_normalization"])


def shortcut_tensors(module: Any, spec: LayerSpec) -> List[Any]:
    """``[weight]`` of a weighted shortcut (``[input][channel]`` order), else nothing."""
    return [module.weight] if module.weight is not None else []


def shortcut_summary(spec: LayerSpec) -> List[str]:
    p, (oc, oh, ow) = spec.params, spec.out_shape
    froms = "".join(f"{j}, " for j in spec.sources)
    return [f"Shortcut Layer: {froms} wt = {_WEIGHTS_TYPE[p['weights_type']]}, "
            f"wn = {_WEIGHTS_NORM[p['weights_normalization']]}, "
            f"outputs:{ow:4d} x{oh:4d} x{oc:4d} {spec.bflops:5.3f} BF"]


# ---------------------------------------------------------------------------- [sam]
def sam_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    sources = _one_source(s, index, specs)
    other = specs[sources[0]].out_shape
    if other != prev:
        raise s.error(f"[sam] needs equal shapes, got {prev} and {other}", "from")
    return Shaped(prev, sources)


def sam_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.attention import SAM
    return SAM(spec.sources[0], _activation(spec))


def sam_summary(spec: LayerSpec) -> List[str]:
    oc, oh, ow = spec.out_shape
    return [f"scale Layer: {spec.sources[0]}   (SAM) -> {ow:4d} x{oh:4d} x{oc:4d}"]


# ---------------------------------------------------------------------------- [scale_channels]
def scale_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    sources = _one_source(s, index, specs)
    other = specs[sources[0]].out_shape
    scale_wh = s.get_int("scale_wh", 0)
    need = (1, other[1], other[2]) if scale_wh else (other[0], 1, 1)
    if tuple(prev) != need and not (scale_wh and prev[1:] == other[1:]):
        raise s.error(f"[scale_channels] previous layer {prev} does not fit "
                      f"from-layer {other} (scale_wh={scale_wh})", "from")
    return Shaped(other, sources, params=dict(scale_wh=scale_wh))


def scale_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.attention import ScaleChannels
    return ScaleChannels(spec.sources[0], _activation(spec), spec.params["scale_wh"])


def scale_summary(spec: LayerSpec) -> List[str]:
    return [f"scale Layer: {spec.sources[0]}"]


TYPES = (
    LayerType("route", route_shape, route_build, route_summary, call="route"),
    LayerType("shortcut", shortcut_shape, shortcut_build, shortcut_summary, shortcut_tensors,
              call="shortcut"),
    LayerType("sam", sam_shape, sam_build, sam_summary, call="pair"),
    LayerType("scale_channels", scale_shape, scale_build, scale_summary, call="pair"),
)
