"""The settings of one Darknet ``[yolo]`` section, read once with Darknet's defaults.

Every reader of ``[yolo]`` keys (shape inference, the layer graph, the loss, post-processing,
the augmentation pipeline, random training shapes, anchor tools) goes through
:meth:`YoloSettings.from_section`, so a key's default and its checks live here only.

Defaults follow ``src/parser.c: parse_yolo`` (AlexeyAB/darknet):

- ``classes=20``, ``num=1``, ``mask`` = ``0..num-1`` when absent, ``anchors`` = 0.5 each
  (``make_yolo_layer``'s biases), ``max=200`` boxes per image;
- box decode: ``scale_x_y=1``, ``new_coords=0``;
- loss: ``ignore_thresh=.5``, ``truth_thresh=1``, ``iou_thresh=1`` (off),
  ``iou_thresh_kind=iou``, ``iou_loss=mse``, ``iou_normalizer=.75``, ``obj_normalizer=1``,
  ``cls_normalizer=1``, ``delta_normalizer=1``, ``label_smooth_eps=0``,
  ``objectness_smooth=0``, ``focal_loss=0``, ``max_delta=FLT_MAX`` (here ``inf``),
  ``counters_per_class`` absent;
- post-processing: ``nms_kind=default``, ``beta_nms=.6``;
- augmentation (Darknet reads them from the **last** ``[yolo]``): ``jitter=.2``, ``resize=1``,
  ``random=0``.

Unlike Darknet (which silently falls back to IoU), an unknown ``iou_loss`` or
``iou_thresh_kind`` is an error naming the file and line. Pure Python (no torch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from .cfg import Section

#: ``iou_loss`` values (``parse_yolo``: mse, iou, giou, diou, ciou).
IOU_LOSSES = ("mse", "iou", "giou", "diou", "ciou")
#: ``iou_thresh_kind`` values.
THRESH_KINDS = ("iou", "giou", "diou", "ciou")
#: Section types read as ``[yolo]``.
YOLO_TYPES = ("yolo",)


@dataclass(frozen=True)
class YoloSettings:
    """One ``[yolo]`` section's keys, typed, with Darknet's defaults (module docstring).

    ``anchors`` holds all ``2·num`` values of the section (w, h pairs in input pixels);
    ``mask`` the indices of the anchors this layer predicts; ``max_boxes`` is the key ``max``;
    ``counters_per_class`` is None when the key is absent. ``where`` is ``file:line: [yolo]``.
    """

    classes: int = 20
    num: int = 1
    mask: Tuple[int, ...] = (0,)
    anchors: Tuple[float, ...] = (0.5, 0.5)
    max_boxes: int = 200
    scale_x_y: float = 1.0
    new_coords: bool = False
    ignore_thresh: float = 0.5
    truth_thresh: float = 1.0
    iou_thresh: float = 1.0
    iou_thresh_kind: str = "iou"
    iou_loss: str = "mse"
    iou_normalizer: float = 0.75
    obj_normalizer: float = 1.0
    cls_normalizer: float = 1.0
    delta_normalizer: float = 1.0
    label_smooth_eps: float = 0.0
    objectness_smooth: bool = False
    focal_loss: bool = False
    max_delta: float = math.inf
    counters_per_class: Optional[Tuple[int, ...]] = None
    nms_kind: str = "default"
    beta_nms: float = 0.6
    jitter: float = 0.2
    resize: float = 1.0
    random: float = 0.0
    where: str = field(default="[yolo]", compare=False)

    @classmethod
    def from_section(cls, section: "Section") -> "YoloSettings":
        """Read a ``[yolo]`` :class:`~yolov4.darknet.cfg.Section`.

        Raises:
            CfgError: naming file and line, for a non-numeric value, fewer than ``2·num``
                anchors, a mask index outside ``[0, num)``, an unknown ``iou_loss`` /
                ``iou_thresh_kind``, or ``counters_per_class`` not of length ``classes``.
        """
        s, d = section, cls
        num = s.get_int("num", d.num)
        classes = s.get_int("classes", d.classes)
        anchors = s.get_floats("anchors", [0.5] * (2 * num))
        if len(anchors) < 2 * num:
            raise s.error(f"key 'anchors': {len(anchors)} values for num={num} anchors",
                          "anchors")
        mask = s.get_ints("mask", list(range(num)))
        if any(m < 0 or m >= num for m in mask):
            raise s.error(f"key 'mask': {mask} refers beyond num={num} anchors", "mask")
        counters = s.get_ints("counters_per_class", []) if s.has("counters_per_class") else None
        if counters is not None and len(counters) != classes:
            raise s.error(f"key 'counters_per_class': {len(counters)} values for "
                          f"classes={classes}", "counters_per_class")
        f = s.get_float
        return cls(
            classes=classes, num=num, mask=tuple(mask), anchors=tuple(anchors[:2 * num]),
            max_boxes=s.get_int("max", d.max_boxes),
            scale_x_y=f("scale_x_y", d.scale_x_y),
            new_coords=bool(s.get_int("new_coords", 0)),
            ignore_thresh=f("ignore_thresh", d.ignore_thresh),
            truth_thresh=f("truth_thresh", d.truth_thresh),
            iou_thresh=f("iou_thresh", d.iou_thresh),
            iou_thresh_kind=s.get_choice("iou_thresh_kind", d.iou_thresh_kind, THRESH_KINDS),
            iou_loss=s.get_choice("iou_loss", d.iou_loss, IOU_LOSSES),
            iou_normalizer=f("iou_normalizer", d.iou_normalizer),
            obj_normalizer=f("obj_normalizer", d.obj_normalizer),
            cls_normalizer=f("cls_normalizer", d.cls_normalizer),
            delta_normalizer=f("delta_normalizer", d.delta_normalizer),
            label_smooth_eps=f("label_smooth_eps", d.label_smooth_eps),
            objectness_smooth=bool(s.get_int("objectness_smooth", 0)),
            focal_loss=bool(s.get_int("focal_loss", 0)),
            max_delta=f("max_delta", d.max_delta),
            counters_per_class=tuple(counters) if counters is not None else None,
            nms_kind=s.get_str("nms_kind", d.nms_kind) or d.nms_kind,
            beta_nms=f("beta_nms", d.beta_nms),
            jitter=f("jitter", d.jitter), resize=f("resize", d.resize),
            random=f("random", d.random),
            where=s.where(),
        )

    @property
    def anchor_pairs(self) -> List[Tuple[float, float]]:
        """All ``num`` anchors as ``(w, h)`` in input pixels."""
        a = self.anchors
        return [(a[2 * i], a[2 * i + 1]) for i in range(len(a) // 2)]

    @property
    def outputs_per_cell(self) -> int:
        """Channels the conv feeding this layer must produce: ``len(mask)·(classes + 5)``."""
        return len(self.mask) * (self.classes + 5)


def yolo_sections(sections: Sequence["Section"]) -> List["Section"]:
    """The ``[yolo]`` sections of a cfg, in order."""
    return [s for s in sections if getattr(s, "type", None) in YOLO_TYPES]


def yolo_settings(sections: Sequence["Section"]) -> List[YoloSettings]:
    """:class:`YoloSettings` of every ``[yolo]`` section, in cfg order."""
    return [YoloSettings.from_section(s) for s in yolo_sections(sections)]


def last_yolo_settings(sections: Sequence["Section"]) -> Optional[YoloSettings]:
    """The last ``[yolo]`` section's settings (Darknet takes ``random``, ``jitter``, ``resize``
    and the NMS kind from the last detection layer), or None without ``[yolo]``."""
    yolos = yolo_sections(sections)
    return YoloSettings.from_section(yolos[-1]) if yolos else None
