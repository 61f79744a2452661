"""Detection confusion matrix with a background row and column.

Rows are predicted classes, columns true classes; index ``C`` (the last) is background:
``m[p, C]`` counts detections of class ``p`` that match no truth (false positives) and
``m[C, t]`` truths of class ``t`` that no detection matches (missed). Matching per image is
class-agnostic and one-to-one: detections with score >= ``conf`` and truths with IoU > ``iou``
are paired greedily by descending IoU. A detection paired with an ignored truth (crowd,
difficult) is not counted, and ignored truths are never "missed".
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..ops.boxes import box_iou


def image_confusion(matrix: np.ndarray, det_boxes: np.ndarray, det_scores: np.ndarray,
                    det_labels: np.ndarray, gt_boxes: np.ndarray, gt_labels: np.ndarray,
                    gt_ignore: Optional[np.ndarray] = None, conf: float = 0.25,
                    iou: float = 0.45) -> None:
    """Add one image to ``matrix`` (``int64[C + 1, C + 1]``), in place.

    Args:
        det_boxes: ``float[D, 4]`` xyxy px; det_scores ``float[D]``; det_labels ``int64[D]``.
        gt_boxes: ``float[G, 4]`` xyxy px; gt_labels ``int64[G]``; gt_ignore ``bool[G]``.
    """
    bg = matrix.shape[0] - 1
    keep = np.asarray(det_scores) >= conf
    db, dl = np.asarray(det_boxes, np.float64)[keep], np.asarray(det_labels)[keep]
    gb, gl = np.asarray(gt_boxes, np.float64), np.asarray(gt_labels)
    ign = np.zeros(len(gb), bool) if gt_ignore is None else np.asarray(gt_ignore, bool)
    det_match = np.full(len(db), -1)
    gt_match = np.full(len(gb), -1)
    if len(db) and len(gb):
        m = box_iou(torch.from_numpy(db), torch.from_numpy(gb)).numpy()
        di, gi = np.nonzero(m > iou)
        order = np.argsort(-m[di, gi], kind="stable")
        for d, g in zip(di[order], gi[order]):
            if det_match[d] < 0 and gt_match[g] < 0:
                det_match[d], gt_match[g] = g, d
    for d in range(len(db)):
        g = det_match[d]
        if g < 0:
            matrix[dl[d], bg] += 1
        elif not ign[g]:
            matrix[dl[d], gl[g]] += 1
    for g in range(len(gb)):
        if gt_match[g] < 0 and not ign[g]:
            matrix[bg, gl[g]] += 1


def confusion_matrix(evaluator, conf: float = 0.25, iou: float = 0.45) -> np.ndarray:
    """``int64[C + 1, C + 1]`` over every image an :class:`~yolov4.eval.Evaluator` processed."""
    d = evaluator.data
    nc = evaluator.num_classes
    matrix = np.zeros((nc + 1, nc + 1), np.int64)
    for k in range(len(d.ids)):
        image_confusion(matrix, d.dt_boxes[k], d.dt_scores[k], d.dt_labels[k], d.gt_boxes[k],
                        d.gt_labels[k], d.gt_crowd[k], conf, iou)
    return matrix
