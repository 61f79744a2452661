"""YOLOv4-CSP (Scaled-YOLOv4): CSP in backbone, SPP and PAN, Mish everywhere, ``new_coords`` heads.

With default options :func:`yolov4_csp` writes the layer graph of the official ``yolov4-csp.cfg``.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence

from ..darknet.cfg import Section
from .builder import Builder
from .common import csp_block, csp_spp_block, dropblock_sam, fpn, pan
from .head import anchor_masks, head_keys, level_heads, net_section
from .registry import register
from .yolov4 import ANCHORS, MASKS, check_common, cspdarknet53

#: [net] of yolov4-csp.cfg (training values).
NET = dict(batch=64, subdivisions=8, width=512, height=512, channels=3, momentum=0.949,
           decay=0.0005, angle=0, saturation=1.5, exposure=1.5, hue=0.1, learning_rate=0.001,
           burn_in=1000, max_batches=500500, policy="steps", steps=[400000, 450000],
           scales=[0.1, 0.1], mosaic=1, letter_box=1, ema_alpha=0.9998)


def _yolo_keys(objectness_smooth: int, obj_normalizer: float, max_delta: int) -> dict:
    return dict(jitter=0.1, scale_x_y=2.0, objectness_smooth=objectness_smooth,
                ignore_thresh=0.7, truth_thresh=1, resize=1.5, iou_thresh=0.2,
                iou_normalizer=0.05, cls_normalizer=0.5, obj_normalizer=obj_normalizer,
                iou_loss="ciou", nms_kind="diounms", beta_nms=0.6, new_coords=1,
                max_delta=max_delta)


YOLO = [_yolo_keys(0, 4.0, 5), _yolo_keys(1, 1.0, 5), _yolo_keys(1, 0.4, 2)]


@register("yolov4-csp")
def yolov4_csp(*, classes: int = 80, width: int = 512, height: int = 512,
               anchors: Optional[Any] = None, masks: Optional[Sequence[Sequence[int]]] = None,
               width_multiple: float = 1.0, depth_multiple: float = 1.0,
               activation: str = "mish", csp: bool = True, spp: bool = True, sam: bool = False,
               neck: str = "pan", dropblock: bool = False, dropblock_prob: float = 0.1,
               dropblock_size: int = 7, cmbn: bool = False,
               net: Optional[Mapping[str, Any]] = None,
               yolo: Optional[Mapping[str, Any]] = None) -> List[Section]:
    """Sections of YOLOv4-CSP.

    Args:
        activation: activation of every conv but the prediction convs (``mish``).
        csp: CSP stages in the backbone (False: Darknet-53 residual stages).
        spp: the SPP pools inside the SPP-CSP block.
        Others: as :func:`yolov4.models.yolov4.yolov4`. The heads use ``new_coords=1`` (logistic
        prediction convs); ``new_coords=0`` gives YOLOv3-style heads.
    """
    name = "yolov4-csp"
    check_common(name, (activation,), neck, dropblock_prob, dropblock_size)
    anchors, masks = anchor_masks(name, anchors, masks, ANCHORS, MASKS)
    keys = head_keys(YOLO, yolo, name)
    b = Builder(net_section(NET, width, height, net), width_multiple=width_multiple,
                depth_multiple=depth_multiple, cmbn=cmbn,
                dropblock=(dropblock_prob, dropblock_size) if dropblock else None)
    act = activation
    channels = (128, 256, 512)

    feats = cspdarknet53(b, act, csp=csp, csp_first=False)
    top = csp_spp_block(b, 512, act, use_spp=spp)

    def block(b: Builder, c: int) -> int:
        return csp_block(b, c, 2, act)

    head = level_heads(b, [2 * c for c in channels], masks=masks, anchors=anchors,
                       classes=classes, keys=keys, activation=act)
    neck_fn = pan if neck == "pan" else fpn
    neck_fn(b, feats, top, channels, act, block=block, head=head, finish=dropblock_sam(b, sam))
    return b.sections
