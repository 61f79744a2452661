"""CSPResNeXt50-PANet-SPP: the paper's other backbone (CSPResNeXt50) with YOLOv4's SPP + PAN neck.

With default options :func:`csresnext50_panet_spp` writes the layer graph of the official
``csresnext50-panet-spp.cfg`` (leaky everywhere, YOLOv3 anchors, 512x512), including its
quirks: the first stage's residual blocks (128 channels) add onto a 64-channel map (Darknet's
[shortcut] adds over the common channels) and stages 2-3 split with linear 1x1 convs.
"""
from __future__ import annotations

import math
from typing import Any, List, Mapping, Optional, Sequence

from ..darknet.cfg import Section
from .builder import Builder
from .common import conv_stack, dropblock_sam, fpn, pan, spp_block
from .head import anchor_masks, head_keys, level_heads, net_section
from .registry import register
from .yolov3 import ANCHORS
from .yolov4 import MASKS, check_common

#: [net] of csresnext50-panet-spp.cfg (training values).
NET = dict(batch=64, subdivisions=16, width=512, height=512, channels=3, momentum=0.9,
           decay=0.0005, angle=0, saturation=1.5, exposure=1.5, hue=0.1, learning_rate=0.001,
           burn_in=1000, max_batches=500500, policy="steps", steps=[400000, 450000],
           scales=[0.1, 0.1])
YOLO = [dict(jitter=0.3, ignore_thresh=0.7, truth_thresh=1, random=1) for _ in range(3)]

#: Per stage: (block width, residual blocks, activation of the two split convs); the fused
#: output has 2x the block width. Stage 1 has no downsampling conv (the stem's max pool) and a
#: 64-channel block part.
STAGES = ((128, 3, "leaky"), (256, 3, "linear"), (512, 5, "linear"), (1024, 2, "leaky"))
GROUPS = 32


def _groups(channels: int) -> int:
    """ResNeXt cardinality 32, reduced to a divisor of ``channels`` in width-scaled models."""
    return math.gcd(GROUPS, channels)


def resnext_block(b: Builder, width: int, act: str) -> int:
    """ResNeXt bottleneck: 1x1, grouped 3x3 (32 groups), 1x1 linear; ``[shortcut]`` then act."""
    x = b.last
    c = b.ch(width)
    b.conv(c, 1, activation=act)
    b.conv(c, 3, activation=act, groups=_groups(c))
    b.conv(c, 1, activation="linear")
    return b.shortcut(x, activation=act)


def cspresnext50(b: Builder, act: str) -> List[int]:
    """CSPResNeXt50: 7x7/2 conv 64, 2x2/2 max pool, four CSP stages. Returns strides 8-32.

    DropBlock, when on, follows each returned stage. The split activations of the official cfg
    (``STAGES``) are kept when ``act`` is leaky; otherwise ``act`` replaces leaky there.
    """
    b.conv(b.ch(64), 7, 2, activation=act)
    down = b.maxpool(2, 2)
    outs: List[int] = []
    for i, (width, blocks, split_act) in enumerate(STAGES):
        split_act = act if split_act == "leaky" else split_act
        c = b.ch(width)
        if i:
            down = b.conv(c, 3, 2, activation=act, groups=_groups(c))
        skip = b.conv(c, 1, activation=split_act)
        b.route(down)
        b.conv(b.ch(64) if i == 0 else c, 1, activation=split_act)
        for _ in range(b.depth(blocks)):
            resnext_block(b, width, act)
        b.conv(c, 1, activation=act)
        b.route(b.last, skip)
        b.conv(b.ch(2 * width), 1, activation=act)
        if i:
            outs.append(b.dropblock())
    return outs


@register("csresnext50-panet-spp")
def csresnext50_panet_spp(*, classes: int = 80, width: int = 512, height: int = 512,
                          anchors: Optional[Any] = None,
                          masks: Optional[Sequence[Sequence[int]]] = None,
                          width_multiple: float = 1.0, depth_multiple: float = 1.0,
                          activation: str = "leaky", spp: bool = True, sam: bool = False,
                          neck: str = "pan", dropblock: bool = False,
                          dropblock_prob: float = 0.1, dropblock_size: int = 7,
                          cmbn: bool = False, net: Optional[Mapping[str, Any]] = None,
                          yolo: Optional[Mapping[str, Any]] = None) -> List[Section]:
    """Sections of CSPResNeXt50-PANet-SPP. Options as :func:`yolov4.models.yolov4.yolov4`."""
    name = "csresnext50-panet-spp"
    check_common(name, (activation,), neck, dropblock_prob, dropblock_size)
    anchors, masks = anchor_masks(name, anchors, masks, ANCHORS, MASKS)
    keys = head_keys(YOLO, yolo, name)
    b = Builder(net_section(NET, width, height, net), width_multiple=width_multiple,
                depth_multiple=depth_multiple, cmbn=cmbn,
                dropblock=(dropblock_prob, dropblock_size) if dropblock else None)
    act = activation
    channels = (128, 256, 512)

    feats = cspresnext50(b, act)
    top = spp_block(b, 512, act, use_spp=spp)

    def block(b: Builder, c: int) -> int:
        return conv_stack(b, c, 5, act)

    head = level_heads(b, [2 * c for c in channels], masks=masks, anchors=anchors,
                       classes=classes, keys=keys, activation=act)
    neck_fn = pan if neck == "pan" else fpn
    neck_fn(b, feats, top, channels, act, block=block, head=head, finish=dropblock_sam(b, sam))
    return b.sections
