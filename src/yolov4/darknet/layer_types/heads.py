"""Shape-keeping layers: ``[dropout]`` (and DropBlock), ``[softmax]``, ``[cost]``, the ``[yolo]`` detection head.

- dropout (``parse_dropout``): ``probability`` (default .2) in [0, 1); ``dropblock=1`` with
  ``dropblock_size_abs`` / ``dropblock_size_rel`` ramps up over ``[net] max_batches``;
- softmax: ``groups`` (1), ``temperature`` (1);
- cost (``parse_cost``): ``type`` (``sse``; ``masked``/``smooth`` are not supported here), ``scale``
  (1); the identity in forward, a loss term in training (:mod:`yolov4.loss.classify`);
- yolo: its keys are :class:`~yolov4.darknet.yolo_settings.YoloSettings`; the layer before must
  produce ``len(mask)·(classes + 5)`` channels.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Sequence

from ..yolo_settings import YoloSettings
from .base import BuildOptions, LayerSpec, LayerType, Shape, Shaped

if TYPE_CHECKING:  # pragma: no cover
    from ..cfg import Section

#: Darknet's IOU_LOSS enum values as printed in the ``[yolo] params`` row.
_IOU_LOSS = {"iou": 0, "giou": 1, "mse": 2, "diou": 3, "ciou": 4}


def same_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    """The output has the input's shape."""
    return Shaped(prev)


# ---------------------------------------------------------------------------- [dropout]
def dropout_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.dropout import DropBlock, Dropout
    s = spec.section
    prob = s.get_float("probability", 0.2)
    if not 0.0 <= prob < 1.0:
        raise s.error(f"key 'probability': must be in [0, 1), got {prob}", "probability")
    if s.get_int("dropblock", 0):
        return DropBlock(prob, s.get_int("dropblock_size_abs", 0),
                         s.get_float("dropblock_size_rel", 0.0), options.max_batches)
    return Dropout(prob)


def dropout_summary(spec: LayerSpec) -> List[str]:
    s, (c, h, w), (oc, oh, ow) = spec.section, spec.in_shape, spec.out_shape
    kind = "dropblock" if s.get_int("dropblock", 0) else "dropout"
    return [f"{kind:<12s}p = {s.get_float('probability', 0.2):.2f} {c * h * w:4d}  ->   "
            f"{oc * oh * ow:4d}"]


# ---------------------------------------------------------------------------- [softmax]
def softmax_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.softmax import Softmax
    s = spec.section
    return Softmax(s.get_int("groups", 1), s.get_float("temperature", 1.0))


def softmax_summary(spec: LayerSpec) -> List[str]:
    c, h, w = spec.in_shape
    return [f"softmax                                        {c * h * w:4d}"]


# ---------------------------------------------------------------------------- [cost]
COST_TYPES = ("sse",)


def cost_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    kind = (s.get_str("type", "sse") or "sse").strip()
    if kind not in COST_TYPES:
        raise s.error(f"key 'type': cost type '{kind}' is not supported (supported: "
                      f"{', '.join(COST_TYPES)})", "type")
    return Shaped(prev, params=dict(cost_type=kind, scale=s.get_float("scale", 1.0)))


def cost_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.softmax import Cost
    return Cost(spec.params["cost_type"], spec.params["scale"])


def cost_summary(spec: LayerSpec) -> List[str]:
    c, h, w = spec.in_shape
    return [f"cost                                           {c * h * w:4d}"]


# ---------------------------------------------------------------------------- [yolo]
def yolo_shape(s: "Section", index: int, prev: Shape, specs: Sequence[LayerSpec]) -> Shaped:
    yolo = YoloSettings.from_section(s)
    if prev[0] != yolo.outputs_per_cell:
        raise s.error(f"the layer before [yolo] has {prev[0]} channels, but "
                      f"len(mask)*(classes+5) = {len(yolo.mask)}*({yolo.classes}+5) = "
                      f"{yolo.outputs_per_cell}", "classes")
    params = dict(classes=yolo.classes, num=yolo.num, mask=list(yolo.mask),
                  anchors=list(yolo.anchors), settings=yolo)
    return Shaped(prev, params=params)


def yolo_build(spec: LayerSpec, options: BuildOptions) -> Any:
    from ...layers.yolo import YoloLayer
    return YoloLayer.from_settings(spec.params["settings"], spec.section)


def yolo_summary(spec: LayerSpec) -> List[str]:
    y = spec.params["settings"]
    return ["yolo",
            f"[yolo] params: iou loss: {y.iou_loss} ({_IOU_LOSS[y.iou_loss]}), "
            f"iou_norm: {y.iou_normalizer:2.2f}, obj_norm: {y.obj_normalizer:2.2f}, "
            f"cls_norm: {y.cls_normalizer:2.2f}, delta_norm: {y.delta_normalizer:2.2f}, "
            f"scale_x_y: {y.scale_x_y:2.2f}"]


TYPES = (
    LayerType("dropout", same_shape, dropout_build, dropout_summary),
    LayerType("softmax", same_shape, softmax_build, softmax_summary, aliases=("soft",)),
    LayerType("cost", cost_shape, cost_build, cost_summary),
    LayerType("yolo", yolo_shape, yolo_build, yolo_summary, call="yolo"),
)
