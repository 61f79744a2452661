"""Darknet's ``[yolo]`` training loss: target assignment, box/objectness/class deltas, SAT pass.

Public API: :class:`YoloLoss` (``loss(outputs, targets, input_hw) -> (total, parts)``),
:class:`LayerSpec` (one layer's settings), :func:`dx_box_iou` (Darknet's IoU-family gradient).
"""
from __future__ import annotations

from .assign import LayerSpec, Pairs, Truths, match_anchors, prepare_truths
from .box_loss import IOU_LOSSES, dx_box_iou, yolo_box_deltas
from .deltas import activate, adversarial_deltas, layer_deltas
from .yolo_loss import YoloLoss

__all__ = ["IOU_LOSSES", "LayerSpec", "Pairs", "Truths", "YoloLoss", "activate",
           "adversarial_deltas", "dx_box_iou", "layer_deltas", "match_anchors", "prepare_truths",
           "yolo_box_deltas"]
