"""Detection heads and header: [yolo] sections, anchors and masks, the [net] section.

Builders call :func:`yolo_head` once per output level and :func:`net_section` once; the option
checks here are shared by every model, so a bad ``iou_loss`` or anchor list is reported the same
way whatever the model.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

from ..darknet.cfg import Section, make_section
from ..darknet.yolo_settings import IOU_LOSSES, THRESH_KINDS
from .builder import Builder, ModelError

#: [yolo] keys a user may set through ``build_sections(..., iou_loss="giou", ...)``, with the
#: values Darknet's ``parse_yolo`` accepts (``None``: any number).
YOLO_OPTIONS: Dict[str, Optional[Sequence[object]]] = {
    "iou_loss": IOU_LOSSES,
    "iou_normalizer": None,
    "iou_thresh": None,
    "iou_thresh_kind": THRESH_KINDS,
    "cls_normalizer": None,
    "obj_normalizer": None,
    "scale_x_y": None,
    "new_coords": (0, 1),  # 1: Scaled-YOLOv4 box decoding, logistic prediction conv
    "ignore_thresh": None,
    "truth_thresh": None,
    "nms_kind": ("default", "greedynms", "diounms", "cornersnms"),
    "beta_nms": None,
    "max_delta": None,
    "label_smooth_eps": None,
    "focal_loss": None,
    "objectness_smooth": None,
    "jitter": None,
    "resize": None,
    "random": None,
}

Scalar = Union[int, float, str]
PerLevel = Union[Scalar, Sequence[Scalar]]

#: Input sizes must be multiples of the largest stride of every zoo model.
STRIDE = 32


def net_section(template: Mapping[str, object], width: int, height: int,
                overrides: Optional[Mapping[str, object]] = None) -> Section:
    """The ``[net]`` section: the model's official training keys, input size, user overrides.

    Raises:
        ModelError: width/height not positive multiples of 32.
    """
    for key, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or value <= 0 or value % STRIDE:
            raise ModelError(f"{key}={value!r}: the input size must be a positive multiple of "
                             f"{STRIDE}")
    options = dict(template)
    options.update(width=width, height=height)
    options.update(overrides or {})
    # keep width/height/channels next to each other as the official files do
    return make_section("net", **options)


def flat_anchors(anchors: object, name: str) -> List[float]:
    """Anchors as a flat ``[w0, h0, w1, h1, ...]`` list of pixels.

    Accepts a flat list, a list of ``(w, h)`` pairs or a cfg string ``"12,16, 19,36"``.
    """
    if isinstance(anchors, str):
        items: List[object] = [v for v in anchors.replace(" ", "").split(",") if v]
    else:
        items = []
        for item in anchors:  # type: ignore[union-attr]
            if isinstance(item, (list, tuple)):
                items.extend(item)
            else:
                items.append(item)
    try:
        values = [float(v) for v in items]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ModelError(f"{name}: anchors must be numbers, got {anchors!r}") from None
    if not values or len(values) % 2 or any(v <= 0 for v in values):
        raise ModelError(f"{name}: anchors must be positive (w, h) pairs, got {anchors!r}")
    return [int(v) if v == int(v) else v for v in values]


def anchor_masks(name: str, anchors: Optional[object], masks: Optional[Sequence[Sequence[int]]],
                 default_anchors: Sequence[float], default_masks: Sequence[Sequence[int]]
                 ) -> "tuple[List[float], List[List[int]]]":
    """Anchors and per-head masks, in head order.

    With no ``anchors`` the official anchors and masks are used. With custom ``anchors`` and no
    ``masks``, anchors are split into equal consecutive groups assigned in the order the official
    masks use them (e.g. YOLOv3's first head takes the largest anchors).

    Raises:
        ModelError: anchors that do not split evenly, masks out of range.
    """
    heads = len(default_masks)
    flat = flat_anchors(default_anchors if anchors is None else anchors, name)
    num = len(flat) // 2
    if masks is None:
        if anchors is None:
            masks = default_masks
        else:
            if num % heads:
                raise ModelError(f"{name}: {num} anchors do not split evenly over {heads} heads; "
                                 f"pass masks=")
            per = num // heads
            groups = [list(range(i * per, (i + 1) * per)) for i in range(heads)]
            # the head with the smallest official mask gets the smallest anchors
            order = sorted(range(heads), key=lambda h: min(default_masks[h]))
            masks = [groups[order.index(h)] for h in range(heads)]
    masks = [list(m) for m in masks]
    if len(masks) != heads:
        raise ModelError(f"{name}: expected {heads} masks (one per head), got {len(masks)}")
    for mask in masks:
        if not mask or any(not 0 <= int(i) < num for i in mask):
            raise ModelError(f"{name}: mask {mask} must index the {num} anchors (0..{num - 1})")
    return flat, masks


def yolo_overrides(options: Mapping[str, object], heads: int, name: str) -> List[Dict[str, object]]:
    """User [yolo] keys as one dict per head; a list value gives one value per head.

    Raises:
        ModelError: an unknown key, a value outside Darknet's choices, a per-head list of the
            wrong length.
    """
    per_head: List[Dict[str, object]] = [{} for _ in range(heads)]
    for key, value in options.items():
        if key not in YOLO_OPTIONS:
            raise ModelError(f"{name}: unknown [yolo] option '{key}' "
                             f"(known: {', '.join(YOLO_OPTIONS)})")
        values = list(value) if isinstance(value, (list, tuple)) else [value] * heads
        if len(values) != heads:
            raise ModelError(f"{name}: {key} has {len(values)} values for {heads} heads")
        choices = YOLO_OPTIONS[key]
        for head, item in enumerate(values):
            if choices is not None and item not in choices:
                raise ModelError(f"{name}: {key}={item!r} is not one of "
                                 f"{', '.join(map(str, choices))}")
            if choices is None and not isinstance(item, (int, float)):
                raise ModelError(f"{name}: {key} must be a number, got {item!r}")
            per_head[head][key] = item
    return per_head


def yolo_head(b: Builder, filters: int, *, mask: Sequence[int], anchors: Sequence[float],
              classes: int, keys: Mapping[str, object], activation: str = "leaky") -> int:
    """YOLOv3 head: 3x3 conv (``filters``, scaled), 1x1 prediction conv, ``[yolo]``.

    The prediction conv has ``len(mask) * (5 + classes)`` filters, no BN and a linear
    activation, or logistic when ``keys`` has ``new_coords=1`` (the [yolo] layer then applies
    no activation, as yolov4-csp.cfg). Returns the ``[yolo]`` index.
    """
    if not isinstance(classes, int) or classes < 1:
        raise ModelError(f"classes must be a positive integer, got {classes!r}")
    b.conv(b.ch(filters), 3, activation=activation)
    pred_activation = "logistic" if int(keys.get("new_coords", 0)) else "linear"  # type: ignore
    b.conv(len(mask) * (5 + classes), 1, activation=pred_activation, bn=False)
    return b.yolo(mask=list(mask), anchors=list(anchors), classes=classes,
                  num=len(anchors) // 2, **keys)


def level_heads(b: Builder, filters: Sequence[int], *, masks: Sequence[Sequence[int]],
                anchors: Sequence[float], classes: int, keys: Sequence[Mapping[str, object]],
                activation: str) -> Callable[[int, int], int]:
    """The ``head(level, x)`` callback of the necks: a :func:`yolo_head` on output ``x``.

    Level ``level`` gets ``filters[level]``, ``masks[level]`` and ``keys[level]``; the head
    first routes back to ``x`` unless ``x`` is the last layer written.
    """
    def head(level: int, x: int) -> int:
        if b.last != x:
            b.route(x)
        return yolo_head(b, filters[level], mask=masks[level], anchors=anchors,
                         classes=classes, keys=keys[level], activation=activation)
    return head


def head_keys(official: Sequence[Mapping[str, object]], options: Optional[Mapping[str, object]],
              name: str) -> List[Dict[str, object]]:
    """Per-head [yolo] keys: the official ones, then the user's (replacing or appended)."""
    overrides = yolo_overrides(options or {}, len(official), name)
    return [{**dict(keys), **extra} for keys, extra in zip(official, overrides)]
