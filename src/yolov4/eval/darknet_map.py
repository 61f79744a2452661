"""Darknet's ``detector map`` metrics (``src/detector.c: validate_detector_map``).

Two passes, as Darknet:

1. Per image (:func:`match_image`): every detection (one class each) is matched to the
   same-class truth with the largest IoU **>** ``iou_thresh`` (first truth wins ties), whether
   or not that truth is already taken. A detection matching no truth but an *ignored* truth
   (VOC "difficult", COCO crowd) of its class is removed. At ``conf_thresh`` (``-thresh``,
   .25), a detection with score **>** thresh is a TP if it matched and no earlier detection of
   the same image matched that truth (earlier = higher score; Darknet uses its NMS output
   order), else FP. Average IoU = sum of the TPs' IoU / (TP + FP): FPs count as 0.
   Quirk kept: a detection removed for an ignored truth still counts as FP at ``conf_thresh``.
2. Globally (:func:`darknet_map`): all detections sorted by score (stable; Darknet's ``qsort``
   leaves ties unspecified); TP if matched and its truth is not yet taken, else FP; precision
   and recall per class at each rank; AP per class by :func:`average_precision`. A class
   without truths has recall 0, so AP 0, and **still counts in the mean** over all classes.

Darknet prints NaN for 0/0 (no detections above thresh); here such ratios are 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from ..ops.boxes import box_iou


def average_precision(precision: np.ndarray, recall: np.ndarray, points: int = 0) -> float:
    """AP of one class from its PR points in rank order, exactly as ``validate_detector_map``.

    Args:
        precision, recall: ``float64[D]`` at each rank of the class's detections (extra ranks
            of other classes repeat the previous values and change nothing).
        points: 0 = area under the monotone envelope over every recall change (VOC2010+,
            Darknet's default), 11 = VOC2007, 101 = COCO-style recall points.
    """
    n = len(recall)
    if n == 0:
        return 0.0
    precision = np.asarray(precision, np.float64)
    recall = np.asarray(recall, np.float64)
    # envelope[r] = max precision over ranks >= r (Darknet's running `last_precision`)
    env = np.maximum.accumulate(precision[::-1])[::-1]
    if points == 0:
        # Darknet walks ranks n-2 .. 0 adding (recall[r+1] - recall[r]) * env[r], then the
        # first segment recall[0] * env[0] ("remaining area ... when recall isn't 0").
        return float(np.sum(np.diff(recall) * env[:-1]) + recall[0] * env[0])
    if points < 2:
        raise ValueError(f"points must be 0 or >= 2, got {points}")
    # max precision over ranks with recall >= r, for r = p / (points - 1)
    rec = recall
    total = 0.0
    for p in range(points):
        cur = p * 1.0 / (points - 1)
        idx = np.searchsorted(rec, cur, side="left")  # recall is non-decreasing with rank
        total += float(env[idx]) if idx < n else 0.0
    return total / points


def match_image(det_boxes: np.ndarray, det_labels: np.ndarray, gt_boxes: np.ndarray,
                gt_labels: np.ndarray, gt_ignore: np.ndarray, iou_thresh: float
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Darknet's per-detection truth match in one image.

    Args:
        det_boxes: ``float[D, 4]`` xyxy px; det_labels ``int64[D]``.
        gt_boxes: ``float[G, 4]`` xyxy px; gt_labels ``int64[G]``; gt_ignore ``bool[G]``.

    Returns:
        ``(truth int64[D], iou float64[D], removed bool[D])``: index of the matched truth in
        ``gt_boxes`` (-1 none), its IoU (0 if none), and whether the detection is removed
        because it overlaps an ignored truth of its class.
    """
    d, g = len(det_boxes), len(gt_boxes)
    truth = np.full(d, -1, np.int64)
    best = np.zeros(d, np.float64)
    removed = np.zeros(d, bool)
    if d == 0 or g == 0:
        return truth, best, removed
    iou = box_iou(torch.from_numpy(np.asarray(det_boxes, np.float64)),
                  torch.from_numpy(np.asarray(gt_boxes, np.float64))).numpy()
    cand = (iou > iou_thresh) & (det_labels[:, None] == gt_labels[None, :])
    real = cand & ~gt_ignore[None, :]
    masked = np.where(real, iou, -1.0)
    j = masked.argmax(1)  # first maximum, as Darknet's strict '>' scan
    has = real.any(1)
    truth[has] = j[has]
    best[has] = iou[has, j[has]]
    removed = ~has & (cand & gt_ignore[None, :]).any(1)
    return truth, best, removed


@dataclass
class DarknetMetrics:
    """Result of :func:`darknet_map`; per-class arrays are ``[C]``, ratios are fractions."""

    ap: np.ndarray            # AP per class at iou_thresh
    map: float                # mean over all C classes (classes without truths count as 0)
    truths: np.ndarray        # int[C] truths per class (not ignored)
    detections: np.ndarray    # int[C] ranked detections per class
    tp: np.ndarray            # int[C] TP at conf_thresh
    fp: np.ndarray            # int[C] FP at conf_thresh
    iou_sum: np.ndarray       # float[C] sum of TP IoUs at conf_thresh
    iou_thresh: float
    conf_thresh: float
    points: int
    curves: List[Tuple[np.ndarray, np.ndarray, np.ndarray]]  # per class (score, P, R) by rank

    @staticmethod
    def _ratio(a: float, b: float) -> float:
        return float(a) / float(b) if b > 0 else 0.0

    @property
    def precision(self) -> float:
        return self._ratio(self.tp.sum(), self.tp.sum() + self.fp.sum())

    @property
    def recall(self) -> float:
        return self._ratio(self.tp.sum(), self.truths.sum())

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return self._ratio(2 * p * r, p + r)

    @property
    def avg_iou(self) -> float:
        return self._ratio(self.iou_sum.sum(), self.tp.sum() + self.fp.sum())

    def class_precision(self, c: int) -> float:
        return self._ratio(self.tp[c], self.tp[c] + self.fp[c])

    def class_recall(self, c: int) -> float:
        return self._ratio(self.tp[c], self.truths[c])

    def class_avg_iou(self, c: int) -> float:
        return self._ratio(self.iou_sum[c], self.tp[c] + self.fp[c])


def _first_occurrence(keys: np.ndarray) -> np.ndarray:
    """``bool[N]``: True where ``keys[i]`` appears for the first time (keys < 0 never 'first')."""
    first = np.zeros(len(keys), bool)
    valid = np.flatnonzero(keys >= 0)
    if len(valid):
        _, idx = np.unique(keys[valid], return_index=True)
        first[valid[idx]] = True
    return first


def darknet_map(num_classes: int, scores: np.ndarray, labels: np.ndarray, truth: np.ndarray, iou: np.ndarray, removed: np.ndarray, truths: np.ndarray,
                iou_thresh: float = 0.5, conf_thresh: float = 0.25, points: int = 0
                ) -> DarknetMetrics:
    """Darknet's mAP and threshold statistics from matched detections of all images.

    Detections come image after image, each image's in descending score order (the
    processing order of pass 1).

    Args:
        scores: ``float[N]``; labels ``int64[N]`` class index.
        truth: ``int64[N]`` globally unique id of the matched truth (-1 none), from
            :func:`match_image` plus a per-image offset; iou ``float[N]`` its IoU.
        removed: ``bool[N]`` detections dropped for overlapping an ignored truth.
        truths: ``int[C]`` number of (not ignored) truths per class.
    """
    labels = np.asarray(labels, np.int64)
    c_all = np.arange(num_classes)
    truths = np.asarray(truths, np.int64)
    # pass 1 statistics at conf_thresh: TP if the first detection of the image for its truth
    above = scores > conf_thresh
    first = _first_occurrence(np.where(removed, -1, truth))  # removed ones have truth -1 anyway
    tp_mask = above & (truth >= 0) & first
    fp_mask = above & ~tp_mask
    tp = np.bincount(labels[tp_mask], minlength=num_classes)[:num_classes]
    fp = np.bincount(labels[fp_mask], minlength=num_classes)[:num_classes]
    iou_sum = np.bincount(labels[tp_mask], weights=iou[tp_mask],
                          minlength=num_classes)[:num_classes]
    # pass 2: global ranking of the kept detections
    keep = ~removed
    order = np.argsort(-np.asarray(scores, np.float64)[keep], kind="stable")
    s, lab, tr = scores[keep][order], labels[keep][order], truth[keep][order]
    is_tp = (tr >= 0) & _first_occurrence(tr)
    ap = np.zeros(num_classes)
    counts = np.bincount(lab, minlength=num_classes)[:num_classes]
    curves = []
    for c in c_all:
        sel = lab == c
        ctp = np.cumsum(is_tp[sel]).astype(np.float64)
        cfp = np.cumsum(~is_tp[sel]).astype(np.float64)
        prec = ctp / np.maximum(ctp + cfp, 1)
        rec = ctp / truths[c] if truths[c] > 0 else np.zeros_like(ctp)
        curves.append((s[sel].astype(np.float64), prec, rec))
        ap[c] = average_precision(prec, rec, points) if truths[c] > 0 else 0.0
    mean = float(ap.mean()) if num_classes else 0.0
    return DarknetMetrics(ap, mean, truths, counts, tp, fp, iou_sum, iou_thresh, conf_thresh,
                          points, curves)


def as_dict(m: DarknetMetrics, names: Sequence[str]) -> Dict[str, float]:
    """Flat summary keys ``darknet.*`` (fractions) plus per-class ``darknet.AP50/<name>``."""
    tag = f"{round(m.iou_thresh * 100)}"
    out = {f"darknet.mAP{tag}": m.map, "darknet.precision": m.precision,
           "darknet.recall": m.recall, "darknet.F1": m.f1, "darknet.avg_iou": m.avg_iou}
    for c, name in enumerate(names):
        out[f"darknet.AP{tag}/{name}"] = float(m.ap[c])
        out[f"darknet.precision/{name}"] = m.class_precision(c)
        out[f"darknet.recall/{name}"] = m.class_recall(c)
    return out
