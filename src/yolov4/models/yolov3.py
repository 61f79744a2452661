"""YOLOv3 (Redmon & Farhadi, 2018) and YOLOv3-tiny: Darknet-53 + FPN, three / two YOLO heads.

With default options :func:`yolov3` writes the official ``yolov3.cfg`` layer graph (``spp=True``
gives ``yolov3-spp.cfg``'s) and :func:`yolov3_tiny` the official ``yolov3-tiny.cfg``'s.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence

from ..darknet.cfg import Section
from .builder import MODEL_ACTIVATIONS, Builder, check_choice
from .common import conv_stack, dropblock_sam, fpn, spp_block, tiny_neck
from .head import anchor_masks, head_keys, level_heads, net_section
from .registry import register
from .yolov4 import check_common, cspdarknet53

#: [net] of yolov3.cfg (its commented training batch/subdivisions).
NET = dict(batch=64, subdivisions=16, width=416, height=416, channels=3, momentum=0.9,
           decay=0.0005, angle=0, saturation=1.5, exposure=1.5, hue=0.1, learning_rate=0.001,
           burn_in=1000, max_batches=500200, policy="steps", steps=[400000, 450000],
           scales=[0.1, 0.1])
ANCHORS = [10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326]
#: Heads in cfg order: stride 32, 16, 8.
MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
_KEYS = dict(jitter=0.3, ignore_thresh=0.7, truth_thresh=1, random=1)
YOLO = [dict(_KEYS), dict(_KEYS), dict(_KEYS)]

#: [net] of yolov3-tiny.cfg (its commented training batch/subdivisions).
TINY_NET = dict(NET, subdivisions=2)
TINY_ANCHORS = [10, 14, 23, 27, 37, 58, 81, 82, 135, 169, 344, 319]
TINY_MASKS = [[3, 4, 5], [0, 1, 2]]


@register("yolov3")
def yolov3(*, classes: int = 80, width: int = 416, height: int = 416,
           anchors: Optional[Any] = None, masks: Optional[Sequence[Sequence[int]]] = None,
           width_multiple: float = 1.0, depth_multiple: float = 1.0,
           activation: str = "leaky", csp: bool = False, spp: bool = False, sam: bool = False,
           dropblock: bool = False, dropblock_prob: float = 0.1, dropblock_size: int = 7,
           cmbn: bool = False, net: Optional[Mapping[str, Any]] = None,
           yolo: Optional[Mapping[str, Any]] = None) -> List[Section]:
    """Sections of YOLOv3.

    Args:
        activation: activation of every conv but the prediction convs (``leaky``).
        csp: CSPDarknet53 instead of Darknet-53.
        spp: YOLOv3-SPP (SPP between the first three and last three convs of the top level).
        sam, dropblock, cmbn: as :func:`yolov4.models.yolov4.yolov4` (FPN outputs).
    """
    name = "yolov3"
    check_common(name, (activation,), None, dropblock_prob, dropblock_size)
    anchors, masks = anchor_masks(name, anchors, masks, ANCHORS, MASKS)
    keys = head_keys(YOLO, yolo, name)
    b = Builder(net_section(NET, width, height, net), width_multiple=width_multiple,
                depth_multiple=depth_multiple, cmbn=cmbn,
                dropblock=(dropblock_prob, dropblock_size) if dropblock else None)
    act = activation
    channels = (128, 256, 512)

    feats = cspdarknet53(b, act, csp=csp)
    top = spp_block(b, 512, act, use_spp=spp)

    def block(b: Builder, c: int) -> int:
        return conv_stack(b, c, 5, act)

    # fpn calls head(level) finest first; masks and keys are in cfg order (coarsest first)
    head = level_heads(b, [2 * c for c in channels], masks=masks[::-1], anchors=anchors,
                       classes=classes, keys=keys[::-1], activation=act)
    fpn(b, feats, top, channels, act, block=block, head=head, finish=dropblock_sam(b, sam),
        lateral=False, heads_top_first=True)
    return b.sections


@register("yolov3-tiny")
def yolov3_tiny(*, classes: int = 80, width: int = 416, height: int = 416,
                anchors: Optional[Any] = None, masks: Optional[Sequence[Sequence[int]]] = None,
                width_multiple: float = 1.0, depth_multiple: float = 1.0,
                activation: str = "leaky", sam: bool = False, cmbn: bool = False,
                net: Optional[Mapping[str, Any]] = None,
                yolo: Optional[Mapping[str, Any]] = None) -> List[Section]:
    """Sections of YOLOv3-tiny: seven 3x3 convs with max pools, heads at strides 32 and 16."""
    name = "yolov3-tiny"
    check_choice(name, "activation", activation, MODEL_ACTIVATIONS)
    anchors, masks = anchor_masks(name, anchors, masks, TINY_ANCHORS, TINY_MASKS)
    keys = head_keys(YOLO[:2], yolo, name)
    b = Builder(net_section(TINY_NET, width, height, net), width_multiple=width_multiple,
                depth_multiple=depth_multiple, cmbn=cmbn)
    act = activation

    for i, channels in enumerate((16, 32, 64, 128, 256, 512)):
        x = b.conv(b.ch(channels), 3, activation=act)
        if i == 4:
            c4 = x  # stride 16 map for the second head
        b.maxpool(2, 2 if i < 5 else 1)  # the last pool keeps stride 32
    b.conv(b.ch(1024), 3, activation=act)
    top = b.conv(b.ch(256), 1, activation=act)

    head = level_heads(b, (512, 256), masks=masks, anchors=anchors, classes=classes,
                       keys=keys, activation=act)
    tiny_neck(b, top, c4, act, head=head, finish=dropblock_sam(b, sam))
    return b.sections
