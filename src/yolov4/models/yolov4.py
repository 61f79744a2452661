"""YOLOv4 (Bochkovskiy et al., 2020): CSPDarknet53 backbone, SPP, PAN neck, YOLOv3 heads.

With default options :func:`yolov4` writes the layer graph of the official ``yolov4.cfg``
(same layers in the same order, so the official ``yolov4.weights`` load). The options are the
paper's architecture switches (its ablations): activation, CSP backbone, SPP, SAM, PAN or FPN
neck, DropBlock, CmBN, and the [yolo] keys (CIoU loss, ``iou_thresh``, ``scale_x_y``, ...).
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence

from ..darknet.cfg import Section
from .builder import MODEL_ACTIVATIONS, Builder, ModelError, check_choice
from .common import conv_stack, csp_stage, dropblock_sam, fpn, pan, res_stage, spp_block
from .head import anchor_masks, head_keys, level_heads, net_section
from .registry import register

#: [net] of yolov4.cfg (training values).
NET = dict(batch=64, subdivisions=8, width=608, height=608, channels=3, momentum=0.949,
           decay=0.0005, angle=0, saturation=1.5, exposure=1.5, hue=0.1, learning_rate=0.0013,
           burn_in=1000, max_batches=500500, policy="steps", steps=[400000, 450000],
           scales=[0.1, 0.1], mosaic=1)
ANCHORS = [12, 16, 19, 36, 40, 28, 36, 75, 76, 55, 72, 146, 142, 110, 192, 243, 459, 401]
#: Heads finest first (strides 8, 16, 32).
MASKS = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def _yolo_keys(scale_x_y: float, last: bool = False) -> dict:
    keys: dict = dict(jitter=0.3, ignore_thresh=0.7, truth_thresh=1)
    if last:
        keys["random"] = 1
    keys.update(scale_x_y=scale_x_y, iou_thresh=0.213, cls_normalizer=1.0, iou_normalizer=0.07,
                iou_loss="ciou", nms_kind="greedynms", beta_nms=0.6, max_delta=5)
    return keys


YOLO = [_yolo_keys(1.2), _yolo_keys(1.1), _yolo_keys(1.05, last=True)]

#: (channels, residual blocks) of the five stages of (CSP)Darknet53.
STAGES = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))


def cspdarknet53(b: Builder, act: str, *, csp: bool = True, csp_first: bool = True) -> List[int]:
    """CSPDarknet53 (``csp=False``: Darknet-53). Returns the stride 8, 16, 32 outputs.

    ``csp_first=False`` keeps the first stage a plain residual stage (Scaled-YOLOv4's
    yolov4-csp). DropBlock, when the builder has it on, follows each of the three returned stages.
    """
    b.conv(b.ch(32), 3, activation=act)
    outs: List[int] = []
    for i, (channels, blocks) in enumerate(STAGES):
        if csp and (i > 0 or csp_first):
            csp_stage(b, channels, blocks, act, first=i == 0)
        else:
            res_stage(b, channels, blocks, act)
        if i >= 2:
            outs.append(b.dropblock())
    return outs


def check_common(model: str, activations: Sequence[str], neck: Optional[str],
                 dropblock_prob: float, dropblock_size: int) -> None:
    """Shared option checks of the YOLOv4-family builders."""
    for act in activations:
        check_choice(model, "activation", act, MODEL_ACTIVATIONS)
    if neck is not None:
        check_choice(model, "neck", neck, ("pan", "fpn"))
    if not isinstance(dropblock_prob, (int, float)) or not 0 < dropblock_prob < 1:
        raise ModelError(f"model '{model}': dropblock_prob={dropblock_prob!r} must be in (0, 1)")
    if not isinstance(dropblock_size, int) or dropblock_size < 1:
        raise ModelError(f"model '{model}': dropblock_size={dropblock_size!r} must be a positive "
                         f"integer")


@register("yolov4")
def yolov4(*, classes: int = 80, width: int = 608, height: int = 608,
           anchors: Optional[Any] = None, masks: Optional[Sequence[Sequence[int]]] = None,
           width_multiple: float = 1.0, depth_multiple: float = 1.0,
           activation: Optional[str] = None, backbone_activation: str = "mish",
           neck_activation: str = "leaky", csp: bool = True, spp: bool = True, sam: bool = False,
           neck: str = "pan", dropblock: bool = False, dropblock_prob: float = 0.1,
           dropblock_size: int = 7, cmbn: bool = False, net: Optional[Mapping[str, Any]] = None,
           yolo: Optional[Mapping[str, Any]] = None) -> List[Section]:
    """Sections of YOLOv4.

    Args:
        activation: one activation for every layer (overrides the two below).
        backbone_activation, neck_activation: ``mish`` / ``leaky`` as the paper.
        csp: CSPDarknet53 backbone (False: Darknet-53 residual stages).
        spp: SPP block on the stride-32 map (False: YOLOv3's five convs).
        sam: point-wise SAM on each neck output before its head.
        neck: ``"pan"`` (paper) or ``"fpn"`` (top-down only, YOLOv3-style).
        dropblock: ``[dropout] dropblock=1`` after backbone stages 3-5 and each neck output,
            with ``dropblock_prob`` and ``dropblock_size`` (``dropblock_size_abs``).
        cmbn: Cross mini-Batch Normalization (``batch_normalize=2``).
        net: extra or replaced ``[net]`` keys.
        yolo: [yolo] keys for every head (a list gives one value per head).
        Other arguments: see :func:`yolov4.models.build_sections`.
    """
    name = "yolov4"
    back_act = activation or backbone_activation
    neck_act = activation or neck_activation
    check_common(name, (back_act, neck_act), neck, dropblock_prob, dropblock_size)
    anchors, masks = anchor_masks(name, anchors, masks, ANCHORS, MASKS)
    keys = head_keys(YOLO, yolo, name)
    b = Builder(net_section(NET, width, height, net), width_multiple=width_multiple,
                depth_multiple=depth_multiple, cmbn=cmbn,
                dropblock=(dropblock_prob, dropblock_size) if dropblock else None)
    channels = (128, 256, 512)

    feats = cspdarknet53(b, back_act, csp=csp)
    top = spp_block(b, 512, neck_act, use_spp=spp)

    def block(b: Builder, c: int) -> int:
        return conv_stack(b, c, 5, neck_act)

    head = level_heads(b, [2 * c for c in channels], masks=masks, anchors=anchors,
                       classes=classes, keys=keys, activation=neck_act)
    neck_fn = pan if neck == "pan" else fpn
    neck_fn(b, feats, top, channels, neck_act, block=block, head=head, finish=dropblock_sam(b, sam))
    return b.sections
