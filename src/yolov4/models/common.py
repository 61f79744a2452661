"""Building blocks of the zoo, written as Darknet sections: residual and CSP stages, SPP, SAM,
the top-down (FPN) and bottom-up (PAN) paths.

Every block appends its layers to a :class:`~yolov4.models.builder.Builder` and returns the index
of its output layer. Channel arguments are the paper's numbers (YOLOv4 at width 1.0); blocks
scale them with ``b.ch`` so a width multiplier changes every block consistently. Layer comments
give the layer sequence Darknet's official cfgs use.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

from .builder import Abs, Builder

#: ``block(b, channels) -> index``: the convolutions after a merge in a neck.
Block = Callable[[Builder, int], int]
#: ``finish(level, index) -> index``: applied to each neck output (DropBlock, SAM) before a head.
Finish = Callable[[int, int], int]
#: ``head(level, index)``: writes the head of one output level.
Head = Callable[[int, int], object]


# -- backbone ------------------------------------------------------------------------------
def res_block(b: Builder, hidden: int, out: int, act: str) -> int:
    """Darknet residual block: 1x1 conv ``hidden``, 3x3 conv ``out``, ``[shortcut]`` to input."""
    x = b.last
    b.conv(b.ch(hidden), 1, activation=act)
    b.conv(b.ch(out), 3, activation=act)
    return b.shortcut(x)


def res_stage(b: Builder, out: int, n: int, act: str) -> int:
    """Darknet-53 stage: 3x3/2 downsampling conv, then ``n`` residual blocks (``out/2 -> out``)."""
    b.conv(b.ch(out), 3, 2, activation=act)
    for _ in range(b.depth(n)):
        res_block(b, out // 2, out, act)
    return b.last


def csp_stage(b: Builder, out: int, n: int, act: str, *, first: bool = False) -> int:
    """CSPDarknet53 stage (Cross Stage Partial): the residual blocks see only part of the input.

    Layers: 3x3/2 conv ``out``; 1x1 conv (the part that skips the blocks); route back to the
    downsampled map; 1x1 conv; ``n`` residual blocks; 1x1 transition conv; route of transition
    and skip part; 1x1 conv ``out``. The part width is ``out/2``, except in the first stage
    (``first=True``) where both parts keep ``out`` channels and the residual block narrows to
    ``out/2`` (as in yolov4.cfg).
    """
    part = out if first else out // 2
    hidden = out // 2 if first else part
    down = b.conv(b.ch(out), 3, 2, activation=act)
    skip = b.conv(b.ch(part), 1, activation=act)
    b.route(down)
    b.conv(b.ch(part), 1, activation=act)
    for _ in range(b.depth(n)):
        res_block(b, hidden, part, act)
    b.conv(b.ch(part), 1, activation=act)
    b.route(b.last, skip)
    return b.conv(b.ch(out), 1, activation=act)


# -- neck blocks ---------------------------------------------------------------------------
def conv_stack(b: Builder, channels: int, n: int, act: str) -> int:
    """``n`` convs alternating 1x1 ``channels`` and 3x3 ``2*channels`` (YOLOv3's neck block)."""
    for i in range(n):
        if i % 2 == 0:
            b.conv(b.ch(channels), 1, activation=act)
        else:
            b.conv(b.ch(2 * channels), 3, activation=act)
    return b.last


def spp(b: Builder, sizes: Sequence[int] = (5, 9, 13)) -> int:
    """Spatial Pyramid Pooling: stride-1 max pools of each size, concatenated with the input.

    Layers (yolov4.cfg): maxpool 5, route -2, maxpool 9, route -4, maxpool 13,
    route -1,-3,-5,-6 (largest pool first, input last).
    """
    x = b.last
    pools: List[int] = []
    for i, size in enumerate(sizes):
        if i:
            b.route(x)
        pools.append(b.maxpool(size, 1))
    return b.route(*reversed(pools), x)


def spp_block(b: Builder, channels: int, act: str, *, use_spp: bool = True) -> int:
    """Top of the YOLOv3-SPP / YOLOv4 neck: 3 convs, SPP, 3 convs; without SPP YOLOv3's 5 convs."""
    if not use_spp:
        return conv_stack(b, channels, 5, act)
    conv_stack(b, channels, 3, act)
    spp(b)
    return conv_stack(b, channels, 3, act)


def csp_block(b: Builder, channels: int, n: int, act: str) -> int:
    """Scaled-YOLOv4 neck block (CSP, no shortcuts): the 1x1/3x3 pairs see half the paths.

    Layers (yolov4-csp.cfg): 1x1 conv; 1x1 conv (skip part); route -2; ``n`` x (1x1, 3x3);
    route -1 and skip; 1x1 conv. All convs have ``channels`` filters.
    """
    c = b.ch(channels)
    x = b.conv(c, 1, activation=act)
    skip = b.conv(c, 1, activation=act)
    b.route(x)
    for _ in range(b.depth(n)):
        b.conv(c, 1, activation=act)
        b.conv(c, 3, activation=act)
    b.route(b.last, skip)
    return b.conv(c, 1, activation=act)


def csp_spp_block(b: Builder, channels: int, act: str, *, use_spp: bool = True) -> int:
    """Scaled-YOLOv4 SPP-CSP: 1x1 skip part; 1x1, 3x3, 1x1, SPP, 1x1, 3x3; route; 1x1 conv."""
    c = b.ch(channels)
    x = b.last
    skip = b.conv(c, 1, activation=act)
    b.route(x)
    b.conv(c, 1, activation=act)
    b.conv(c, 3, activation=act)
    b.conv(c, 1, activation=act)
    if use_spp:
        spp(b)
    b.conv(c, 1, activation=act)
    b.conv(c, 3, activation=act)
    b.route(b.last, skip)
    return b.conv(c, 1, activation=act)


def sam(b: Builder) -> int:
    """Point-wise Spatial Attention Module (the paper's modified SAM) on the previous layer.

    A 1x1 conv with as many filters as the input has channels and logistic activation gives the
    attention map; ``[sam] from=-2`` multiplies it into the input (as in
    yolov4-sam-mish-csp-reorg-bfm.cfg).
    """
    x = b.last
    b.conv(b.out_channels(x), 1, activation="logistic")
    return b.sam(x)


def dropblock_sam(b: Builder, use_sam: bool) -> Finish:
    """The ``finish(level, x)`` of the YOLOv4 family: DropBlock (when the builder has it on),
    then point-wise SAM when ``use_sam``, after each neck output."""
    def finish(level: int, x: int) -> int:
        x = b.dropblock()
        return sam(b) if use_sam else x
    return finish


# -- necks ---------------------------------------------------------------------------------
def upsample_merge(b: Builder, x: int, skip: int, channels: int, act: str, *,
                   lateral: bool = True) -> int:
    """Top-down step: 1x1 conv on ``x``, upsample x2, concatenate with backbone map ``skip``.

    ``lateral=True`` (YOLOv4/PAN): ``skip`` passes a 1x1 conv first and comes first in the
    route. ``lateral=False`` (YOLOv3): route of the upsampled map and the raw ``skip``.
    """
    if b.last != x:
        b.route(x)
    b.conv(b.ch(channels), 1, activation=act)
    up = b.upsample(2)
    if not lateral:
        return b.route(up, Abs(skip))
    b.route(Abs(skip))
    side = b.conv(b.ch(channels), 1, activation=act)
    return b.route(side, up)


def downsample_merge(b: Builder, x: int, skip: int, channels: int, act: str) -> int:
    """Bottom-up (PAN) step: 3x3/2 conv on ``x``, concatenated with the top-down map ``skip``."""
    if b.last != x:
        b.route(x)
    b.conv(b.ch(channels), 3, 2, activation=act)
    return b.route(b.last, skip)


def fpn(b: Builder, feats: Sequence[int], top: int, channels: Sequence[int], act: str, *,
        block: Block, head: Head, finish: Optional[Finish] = None, lateral: bool = True,
        heads_top_first: bool = False) -> List[int]:
    """Feature Pyramid Network (top-down path only), a head on every level.

    Args:
        feats: backbone outputs, finest first (strides 8, 16, 32 for three levels).
        top: the already-built top level (e.g. the SPP block on ``feats[-1]``).
        channels: neck width per level (paper numbers), finest first.
        block: convolutions after each merge.
        head: writes the head of a level; called finest first, or coarsest first while
            descending when ``heads_top_first`` (YOLOv3's layer order).
        finish: applied to each level's output before its head (DropBlock, SAM).
        lateral: YOLOv4-style 1x1 lateral conv on the backbone map (False for YOLOv3).

    Returns:
        The output index of every level, finest first.
    """
    finish = finish or (lambda level, x: x)
    levels = len(feats)
    outs = [0] * levels
    outs[-1] = finish(levels - 1, top)
    for level in reversed(range(levels)):
        if level < levels - 1:
            upsample_merge(b, outs[level + 1], feats[level], channels[level], act,
                           lateral=lateral)
            outs[level] = finish(level, block(b, channels[level]))
        if heads_top_first:
            head(level, outs[level])
    if not heads_top_first:
        for level in range(levels):
            head(level, outs[level])
    return outs


def pan(b: Builder, feats: Sequence[int], top: int, channels: Sequence[int], act: str, *,
        block: Block, head: Head, finish: Optional[Finish] = None) -> List[int]:
    """Path Aggregation Network: top-down path, then a bottom-up path; heads finest first.

    The top-down path merges with lateral 1x1 convs (no heads); the bottom-up path starts at
    the finest level, writes its head, downsamples and merges with the next top-down map.
    Arguments as :func:`fpn`. Returns the bottom-up outputs, finest first.
    """
    finish = finish or (lambda level, x: x)
    levels = len(feats)
    top_down = [0] * levels
    top_down[-1] = top
    for level in reversed(range(levels - 1)):
        upsample_merge(b, top_down[level + 1], feats[level], channels[level], act)
        top_down[level] = block(b, channels[level])
    outs = [0] * levels
    outs[0] = finish(0, top_down[0])
    head(0, outs[0])
    for level in range(1, levels):
        downsample_merge(b, outs[level - 1], top_down[level], channels[level], act)
        outs[level] = finish(level, block(b, channels[level]))
        head(level, outs[level])
    return outs


def tiny_neck(b: Builder, top: int, skip: int, act: str, *, head: Head,
              finish: Optional[Finish] = None) -> List[int]:
    """YOLOv3-tiny / YOLOv4-tiny neck: a head on ``top`` (stride 32), then 1x1 conv 128,
    upsample x2, route with the stride-16 map ``skip`` and a second head.

    ``head``/``finish`` as :func:`fpn`, levels in cfg order (0: stride 32, 1: stride 16).
    Returns both head inputs, in that order.
    """
    finish = finish or (lambda level, x: x)
    coarse = finish(0, top)
    head(0, coarse)
    upsample_merge(b, top, skip, 128, act, lateral=False)
    fine = finish(1, b.last)
    head(1, fine)
    return [coarse, fine]
