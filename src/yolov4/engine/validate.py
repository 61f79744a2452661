"""Validation during training: the live network as a :class:`yolov4.Detector`, scored by the one
evaluation driver (:func:`yolov4.eval.driver.evaluate_detector`).

So the mAP printed during training is what ``yolov4 val`` prints for the saved model with the
same thresholds: the same pre-processing (Darknet's resize, ``letter_box`` from [net]), the same
post-processing (``obj * p_c > conf_thresh``, NMS kind and ``beta_nms`` from the cfg, at most
300 detections per image) and the same targets (the dataset's own annotations in original
pixels, crowd/difficult as ignore regions). :func:`settings_note` says which thresholds.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from ..eval.driver import evaluate_detector
from ..postprocess import nms_settings_from_sections


def settings_note(cfg: Dict[str, Any], sections: Any) -> str:
    """One line naming the thresholds of training's mAP and the ``yolov4 val`` flags that give
    the same number on the saved model."""
    kind, beta = nms_settings_from_sections(sections)
    conf, iou = float(cfg["conf_thresh"]), float(cfg["nms_thresh"])
    shown = {"greedy": "greedy (IoU)", "diou": f"DIoU (beta {beta:g})"}.get(kind, kind)
    return (f"validation: conf {conf:g}, NMS {shown} {iou:g}; on the saved model "
            f"`yolov4 val --conf {conf:g} --iou {iou:g}` gives the same numbers")


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Any,
    *,
    size: Tuple[int, int],
    letterbox: bool = False,
    conf_thresh: float = 0.005,
    nms_thresh: float = 0.45,
    batch_size: int = 8,
    max_images: int = 0,
    device: Optional[torch.device] = None,
) -> Dict[str, float]:
    """Metrics of ``model`` on ``dataset`` (``Evaluator.summarize()`` keys, e.g. ``darknet.mAP50``).

    Args:
        model: a ``Darknet`` (put in eval mode here, its previous mode restored; not fused).
        size: network input ``(h, w)``.
        max_images: evaluate only the first N images (0 = all).
    """
    from ..predict import Detector

    device = device or next(model.parameters()).device
    was_training = model.training
    try:
        detector = Detector(model, names=list(dataset.names), size=(int(size[1]), int(size[0])),
                            conf=conf_thresh, iou=nms_thresh, letterbox=letterbox,
                            device=device, fuse=False)
        run = evaluate_detector(detector, dataset, batch_size=batch_size, max_images=max_images)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run.evaluator.summarize()
    finally:
        model.train(was_training)


def fitness(metrics: Dict[str, float]) -> float:
    """The number "best" is judged by: Darknet's mAP@0.5 (``-map``), else COCO AP50."""
    for key in ("darknet.mAP50", "coco.AP50"):
        if key in metrics:
            return float(metrics[key])
    return 0.0
