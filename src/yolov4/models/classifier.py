"""Classifiers on our detectors' backbones, for backbone pretraining (the paper's ImageNet step).

``cspdarknet53``: the YOLOv4 backbone (the first 105 layers of ``yolov4``), then ``[avgpool]``,
a 1x1 linear conv with one filter per class and ``[softmax]``. With default options it is
Darknet's ``csdarknet53-omega.cfg`` layer for layer (``classes=1000``), so ``darknet partial
csdarknet53-omega.cfg ... 105`` and ``yolov4 partial`` give the start file of ``yolov4``.

``cspdarknet53-tiny``: the YOLOv4-tiny backbone (its first 27 layers: two strided convs, three
CSP blocks with max pools, the 3x3 conv 512), then the same classifier head.

Both take the detectors' width/depth multipliers and activation switches, so the classifier
built with the options of a detector has exactly that detector's first layers:
:func:`backbone_layers` is how many (the layers before ``[avgpool]``), the ``N`` of
``yolov4 partial``. ``[net]`` carries omega's training keys (label smoothing, CutMix + Mosaic,
crops 0.5x-1.75x the input, rotation, aspect and colour jitter).
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional

from ..darknet.cfg import Section
from .builder import MODEL_ACTIVATIONS, Builder, ModelError, check_choice
from .head import net_section
from .registry import register
from .yolov4 import cspdarknet53 as cspdarknet53_layers
from .yolov4_tiny import tiny_csp_block


def classifier_net(width: int, height: int) -> dict:
    """``[net]`` of the zoo classifiers: ``csdarknet53-omega.cfg``'s training keys, crops
    scaled with the input size (omega: 128..448 at 256)."""
    return dict(batch=128, subdivisions=4, label_smooth_eps=0.1, width=width, height=height,
                channels=3, min_crop=width // 2, max_crop=width * 7 // 4, mosaic=1, cutmix=1,
                burn_in=1000, learning_rate=0.1, policy="poly", power=4, max_batches=1200000,
                momentum=0.9, decay=0.0005, angle=7, hue=0.1, saturation=0.75, exposure=0.75,
                aspect=0.75)


def classifier_head(b: Builder, classes: int) -> None:
    """``[avgpool]``, 1x1 linear conv with ``classes`` filters (bias, no BN), ``[softmax]``."""
    if not isinstance(classes, int) or classes < 1:
        raise ModelError(f"classes={classes!r} must be a positive integer")
    b.add("avgpool")
    b.conv(classes, 1, activation="linear", bn=False)
    b.add("softmax", groups=1)


def _no_detector_options(name: str, anchors: Any, yolo: Optional[Mapping[str, Any]]) -> None:
    if anchors is not None or yolo:
        raise ModelError(f"model '{name}' is a classifier: it has no anchors or [yolo] keys "
                         f"(got {sorted(yolo or {}) or 'anchors'})")


@register("cspdarknet53")
def cspdarknet53(*, classes: int = 1000, width: int = 256, height: int = 256,
                 anchors: Optional[Any] = None, width_multiple: float = 1.0,
                 depth_multiple: float = 1.0, activation: Optional[str] = None,
                 backbone_activation: str = "mish", csp: bool = True, dropblock: bool = False,
                 dropblock_prob: float = 0.1, dropblock_size: int = 7, cmbn: bool = False,
                 net: Optional[Mapping[str, Any]] = None,
                 yolo: Optional[Mapping[str, Any]] = None) -> List[Section]:
    """Sections of the CSPDarknet53 classifier (see the module docstring).

    Args:
        classes: output classes (the last conv's filters).
        activation / backbone_activation, csp, dropblock*, cmbn, width/depth_multiple: as
            :func:`yolov4.models.yolov4.yolov4` (the same values give the same backbone).
        net: extra or replaced ``[net]`` keys.
    """
    name = "cspdarknet53"
    _no_detector_options(name, anchors, yolo)
    act = activation or backbone_activation
    check_choice(name, "activation", act, MODEL_ACTIVATIONS)
    b = Builder(net_section(classifier_net(width, height), width, height, net),
                width_multiple=width_multiple, depth_multiple=depth_multiple, cmbn=cmbn,
                dropblock=(dropblock_prob, dropblock_size) if dropblock else None)
    cspdarknet53_layers(b, act, csp=csp)
    classifier_head(b, classes)
    return b.sections


@register("cspdarknet53-tiny")
def cspdarknet53_tiny(*, classes: int = 1000, width: int = 256, height: int = 256,
                      anchors: Optional[Any] = None, width_multiple: float = 1.0,
                      depth_multiple: float = 1.0, activation: str = "leaky", cmbn: bool = False,
                      net: Optional[Mapping[str, Any]] = None,
                      yolo: Optional[Mapping[str, Any]] = None) -> List[Section]:
    """Sections of the YOLOv4-tiny backbone classifier (options as
    :func:`yolov4.models.yolov4_tiny.yolov4_tiny`)."""
    name = "cspdarknet53-tiny"
    _no_detector_options(name, anchors, yolo)
    check_choice(name, "activation", activation, MODEL_ACTIVATIONS)
    b = Builder(net_section(classifier_net(width, height), width, height, net),
                width_multiple=width_multiple, depth_multiple=depth_multiple, cmbn=cmbn)
    b.conv(b.ch(32), 3, 2, activation=activation)
    b.conv(b.ch(64), 3, 2, activation=activation)
    for channels in (64, 128, 256):
        tiny_csp_block(b, channels, activation)
    b.conv(b.ch(512), 3, activation=activation)
    classifier_head(b, classes)
    return b.sections


def backbone_layers(sections: List[Section]) -> int:
    """Layers before the first ``[avgpool]``: the backbone a detector can start from."""
    for i, s in enumerate(sections[1:]):
        if s.type in ("avgpool", "avg"):
            return i
    raise ModelError("the model has no [avgpool]: not a classifier with a backbone to cut")


__all__ = ["backbone_layers", "classifier_head", "classifier_net", "cspdarknet53",
           "cspdarknet53_tiny"]
