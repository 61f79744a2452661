"""YOLOv4-tiny: a CSP backbone of grouped-route blocks, two YOLO heads (strides 32 and 16).

With default options :func:`yolov4_tiny` writes the layer graph of the official
``yolov4-tiny.cfg`` (mask 1,2,3 on the second head, as the released cfg and weights).
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence

from ..darknet.cfg import Section
from .builder import MODEL_ACTIVATIONS, Builder, check_choice
from .common import dropblock_sam, tiny_neck
from .head import anchor_masks, head_keys, level_heads, net_section
from .registry import register

#: [net] of yolov4-tiny.cfg (training values).
NET = dict(batch=64, subdivisions=1, width=416, height=416, channels=3, momentum=0.9,
           decay=0.0005, angle=0, saturation=1.5, exposure=1.5, hue=0.1, learning_rate=0.00261,
           burn_in=1000, max_batches=2000200, policy="steps", steps=[1600000, 1800000],
           scales=[0.1, 0.1])
ANCHORS = [10, 14, 23, 27, 37, 58, 81, 82, 135, 169, 344, 319]
#: Heads in cfg order: stride 32, then stride 16.
MASKS = [[3, 4, 5], [1, 2, 3]]
_KEYS = dict(jitter=0.3, scale_x_y=1.05, cls_normalizer=1.0, iou_normalizer=0.07,
             iou_loss="ciou", ignore_thresh=0.7, truth_thresh=1, random=0, resize=1.5,
             nms_kind="greedynms", beta_nms=0.6)
YOLO = [dict(_KEYS), dict(_KEYS)]


def tiny_csp_block(b: Builder, channels: int, act: str) -> "tuple[int, int]":
    """CSP block of YOLOv4-tiny, then a 2x2/2 max pool.

    Layers: 3x3 conv ``channels``; route of its second channel half (``groups=2 group_id=1``);
    two 3x3 convs ``channels/2``; route of both; 1x1 conv ``channels``; route of the first conv
    and that one; maxpool. Returns ``(1x1 conv index, maxpool index)``.
    """
    x = b.conv(b.ch(channels), 3, activation=act)
    b.route(x, groups=2, group_id=1)
    a = b.conv(b.ch(channels // 2), 3, activation=act)
    b.conv(b.ch(channels // 2), 3, activation=act)
    b.route(b.last, a)
    y = b.conv(b.ch(channels), 1, activation=act)
    b.route(x, y)
    return y, b.maxpool(2, 2)


@register("yolov4-tiny")
def yolov4_tiny(*, classes: int = 80, width: int = 416, height: int = 416,
                anchors: Optional[Any] = None, masks: Optional[Sequence[Sequence[int]]] = None,
                width_multiple: float = 1.0, depth_multiple: float = 1.0,
                activation: str = "leaky", sam: bool = False, cmbn: bool = False,
                net: Optional[Mapping[str, Any]] = None,
                yolo: Optional[Mapping[str, Any]] = None) -> List[Section]:
    """Sections of YOLOv4-tiny.

    Args:
        activation: activation of every conv (``leaky`` as released).
        sam: point-wise SAM on the input of each head.
        cmbn: Cross mini-Batch Normalization (``batch_normalize=2``).
        depth_multiple: accepted for a uniform interface; YOLOv4-tiny has no repeated blocks.
        Other arguments: see :func:`yolov4.models.yolov4.yolov4`.
    """
    name = "yolov4-tiny"
    check_choice(name, "activation", activation, MODEL_ACTIVATIONS)
    anchors, masks = anchor_masks(name, anchors, masks, ANCHORS, MASKS)
    keys = head_keys(YOLO, yolo, name)
    b = Builder(net_section(NET, width, height, net), width_multiple=width_multiple,
                depth_multiple=depth_multiple, cmbn=cmbn)

    act = activation

    b.conv(b.ch(32), 3, 2, activation=act)
    b.conv(b.ch(64), 3, 2, activation=act)
    tiny_csp_block(b, 64, act)
    tiny_csp_block(b, 128, act)
    c4, _ = tiny_csp_block(b, 256, act)   # stride 16 map for the second head
    b.conv(b.ch(512), 3, activation=act)
    top = b.conv(b.ch(256), 1, activation=act)

    head = level_heads(b, (512, 256), masks=masks, anchors=anchors, classes=classes,
                       keys=keys, activation=act)
    tiny_neck(b, top, c4, act, head=head, finish=dropblock_sam(b, sam))
    return b.sections
