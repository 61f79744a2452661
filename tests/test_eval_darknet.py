"""Darknet ``detector map`` metrics against hand-worked examples (derivations in comments).

Rules from ``src/detector.c: validate_detector_map`` (DARKNET_SEMANTICS §6).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from yolov4.eval.darknet_map import average_precision
from yolov4.eval.evaluator import Evaluator

NAMES = ["zero", "one", "two"]


def det(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32),
            "labels": torch.tensor(labels, dtype=torch.int64)}


def tgt(boxes, labels, **extra):
    out = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
           "labels": torch.tensor(labels, dtype=torch.int64), "image_size": (200, 200)}
    out.update(extra)
    return out


# Two images, three classes.
# image 1: truth A = [0,0,10,10] class 0.
#   d1 [0,0,10,8]     s=.9 class 0: IoU(A) = 80/100 = .8           -> TP (takes A)
#   d2 [80,80,90,90]  s=.8 class 0: no overlap                     -> FP
#   d4 [0,0,10,10]    s=.6 class 0: IoU(A) = 1, but A taken by d1  -> FP
#   e  [0,0,10,10]    s=.5 class 1: class 1 has no truths          -> FP
# image 2: truth B = [20,20,30,30] class 0, C = [50,50,60,60] class 0, D = [5,5,15,15] class 2.
#   d3 [21,20,30,30]  s=.7 class 0: IoU(B) = 90/100 = .9           -> TP
#   d5 [50,50,60,60]  s=.2 class 0: IoU(C) = 1                     -> TP (below conf .25)
# Class 0 ranking (by score): d1 TP, d2 FP, d3 TP, d4 FP, d5 TP with 3 truths:
#   P = 1, 1/2, 2/3, 1/2, 3/5;  R = 1/3, 1/3, 2/3, 2/3, 1
# all-point: envelope = 1, 2/3, 2/3, .6, .6;
#   AP = R0*1 + (R2-R1)*env1 + (R4-R3)*env3 = 1/3 + 1/3*2/3 + 1/3*.6 = 34/45
# 11-point: r = 0..0.3 -> max P at R >= r = 1 (4 points); r = .4..0.6 -> 2/3 (3 points);
#   r = .7..1 -> .6 (4 points): AP = (4 + 2 + 2.4) / 11 = 8.4/11
# 101-point: r = 0..0.33 -> 1 (34 points); .34..0.66 -> 2/3 (33); .67..1 -> .6 (34):
#   AP = (34 + 22 + 20.4) / 101 = 76.4/101
# mAP over 3 classes: class 1 (no truths) and class 2 (no detections) count as AP 0.
# At conf .25: TP = d1, d3 (2); FP = d2, d4, e (3); d5 not counted (score .2).
#   truths = 4 -> precision 2/5, recall 2/4, F1 = 2*.4*.5/.9 = 4/9,
#   average IoU = (.8 + .9) / (TP + FP) = 1.7/5 = .34 (FPs count as 0).
PREDS = [det([[0, 0, 10, 8], [80, 80, 90, 90], [0, 0, 10, 10], [0, 0, 10, 10]],
             [.9, .8, .6, .5], [0, 0, 0, 1]),
         det([[21, 20, 30, 30], [50, 50, 60, 60]], [.7, .2], [0, 0])]
TGTS = [tgt([[0, 0, 10, 10]], [0]),
        tgt([[20, 20, 30, 30], [50, 50, 60, 60], [5, 5, 15, 15]], [0, 0, 2])]


@pytest.mark.parametrize("points, ap0", [(0, 34 / 45), (11, 8.4 / 11), (101, 76.4 / 101)])
def test_hand_worked_map(points, ap0):
    ev = Evaluator(NAMES, points=points, coco=False)
    ev.process(PREDS, TGTS)
    m = ev.summarize()
    assert m["darknet.AP50/zero"] == pytest.approx(ap0, abs=1e-12)
    assert m["darknet.AP50/one"] == 0 and m["darknet.AP50/two"] == 0
    assert m["darknet.mAP50"] == pytest.approx(ap0 / 3, abs=1e-12)
    assert m["darknet.precision"] == pytest.approx(2 / 5)
    assert m["darknet.recall"] == pytest.approx(2 / 4)
    assert m["darknet.F1"] == pytest.approx(4 / 9)
    assert m["darknet.avg_iou"] == pytest.approx(1.7 / 5, abs=1e-6)
    r = ev.darknet_result
    assert r.tp.tolist() == [2, 0, 0] and r.fp.tolist() == [2, 1, 0]
    assert r.truths.tolist() == [3, 0, 1]


def test_conf_thresh_changes_only_the_threshold_statistics():
    # conf .1 also counts d5 (TP, IoU 1): TP 3, FP 3 -> P .5, R 3/4, avg IoU 2.7/6
    ev = Evaluator(NAMES, conf_thresh=0.1, coco=False)
    ev.process(PREDS, TGTS)
    m = ev.summarize()
    assert m["darknet.mAP50"] == pytest.approx(34 / 45 / 3, abs=1e-12)
    assert m["darknet.precision"] == pytest.approx(0.5)
    assert m["darknet.recall"] == pytest.approx(0.75)
    assert m["darknet.avg_iou"] == pytest.approx(2.7 / 6, abs=1e-6)


def test_iou_must_exceed_the_threshold_strictly():
    # det [0,0,10,5] on truth [0,0,10,10]: IoU = 50/100 = .5, not > .5 -> FP, AP 0.
    # (COCO matches at IoU >= .5, so its AP50 is 1 for the same pair.)
    ev = Evaluator(["a"], backend="pycocotools")
    ev.process([det([[0, 0, 10, 5]], [.9], [0])], [tgt([[0, 0, 10, 10]], [0])])
    m = ev.summarize()
    assert m["darknet.mAP50"] == 0 and m["darknet.precision"] == 0
    assert m["coco.AP50"] == pytest.approx(1.0)


def test_best_truth_is_taken_even_if_already_matched():
    # truths T1 = [0,0,10,10], T2 = [0,2,10,12] (class 0); IoU(T1,T2) = 80/120.
    # d1 [0,0,10,10] s=.9: IoU T1 = 1, T2 = 2/3            -> TP on T1
    # d2 [0,1,10,11] s=.8: IoU T1 = 90/110, T2 = 90/110 -> tie, first truth (T1) wins;
    #   T1 taken -> FP (Darknet does not fall back to T2, unlike COCO).
    # Ranking: TP, FP; R = 1/2, 1/2; P = 1, 1/2 -> AP = 1/2 * 1 = .5
    ev = Evaluator(["a"], backend="pycocotools")
    ev.process([det([[0, 0, 10, 10], [0, 1, 10, 11]], [.9, .8], [0, 0])],
               [tgt([[0, 0, 10, 10], [0, 2, 10, 12]], [0, 0])])
    m = ev.summarize()
    assert m["darknet.mAP50"] == pytest.approx(0.5)
    assert ev.darknet_result.tp.tolist() == [1] and ev.darknet_result.fp.tolist() == [1]
    assert m["coco.AP50"] == pytest.approx(1.0)  # COCO matches d2 to the free T2


def test_difficult_truths_are_ignored():
    # image: truth [0,0,10,10] class 0 and a difficult one [100,100,120,120] class 0.
    # f [100,100,120,120] s=.95 matches only the difficult truth -> removed from the ranking;
    # d [0,0,10,10] s=.5 -> TP. Ranking: TP with 1 truth -> AP 1.
    # At conf .25 the removed detection still counts as FP (Darknet's loop goes on after
    # removing it): TP 1, FP 1 -> precision .5, recall 1, avg IoU 1/2.
    ev = Evaluator(["a"], coco=False)
    ev.process([det([[100, 100, 120, 120], [0, 0, 10, 10]], [.95, .5], [0, 0])],
               [tgt([[0, 0, 10, 10], [100, 100, 120, 120]], [0, 0],
                    difficult=torch.tensor([False, True]))])
    m = ev.summarize()
    assert m["darknet.mAP50"] == pytest.approx(1.0)
    assert ev.darknet_result.truths.tolist() == [1]
    assert m["darknet.precision"] == pytest.approx(0.5)
    assert m["darknet.recall"] == pytest.approx(1.0)
    assert m["darknet.avg_iou"] == pytest.approx(0.5)


def test_earlier_low_score_detection_blocks_threshold_tp():
    # Within an image, a detection is a threshold-TP only if no earlier detection (earlier =
    # higher score, given in any order) matched the same truth: [0,0,10,9] s=.9 matches T
    # (IoU .9) first; [0,0,10,10] s=.8 matches T too -> TP 1, FP 1.
    ev = Evaluator(["a"], coco=False)
    ev.process([det([[0, 0, 10, 10], [0, 0, 10, 9]], [.8, .9], [0, 0])],
               [tgt([[0, 0, 10, 10]], [0])])
    ev.summarize()
    r = ev.darknet_result
    assert r.tp.tolist() == [1] and r.fp.tolist() == [1]
    # the TP is the higher-scored [0,0,10,9] (IoU .9), so avg IoU = .9 / 2
    assert r.avg_iou == pytest.approx(0.45, abs=1e-6)


def test_average_precision_formulas_directly():
    # VOC2007 example: P = [1, .5], R = [.5, .5] (TP then FP, 2 truths).
    # 11-point: r = 0..0.5 -> 1 (6 points), r > .5 -> 0: AP = 6/11
    assert average_precision(np.array([1, .5]), np.array([.5, .5]), 11) == pytest.approx(6 / 11)
    # all-point: .5 * 1 = .5
    assert average_precision(np.array([1, .5]), np.array([.5, .5]), 0) == pytest.approx(0.5)
    # FP then TP with 1 truth: P = 0, .5; R = 0, 1 -> all-point (1 - 0) * max(0, .5) = .5
    assert average_precision(np.array([0, .5]), np.array([0, 1.]), 0) == pytest.approx(0.5)
    assert average_precision(np.zeros(0), np.zeros(0), 0) == 0.0
    with pytest.raises(ValueError):
        average_precision(np.array([1.]), np.array([1.]), 1)


def test_no_predictions_gives_zeros_and_a_warning():
    ev = Evaluator(NAMES)
    ev.process([det([], [], []), det([], [], [])], TGTS)
    with pytest.warns(UserWarning, match="no predictions"):
        m = ev.summarize()
    assert m["darknet.mAP50"] == 0 and m["darknet.F1"] == 0 and m["coco.AP"] == 0
    ev.reset()
    with pytest.warns(UserWarning, match="no images"):
        m = ev.summarize()
    assert m["coco.AP"] == 0 and m["darknet.mAP50"] == 0


def test_bad_class_ids_raise_a_clear_error():
    from yolov4.errors import DataError

    ev = Evaluator(NAMES)
    with pytest.raises(DataError, match="class id 3 out of range"):
        ev.process([det([[0, 0, 1, 1]], [.5], [3])], [tgt([], [])])
    with pytest.raises(DataError, match="target class id -1"):
        ev.process([det([], [], [])], [tgt([[0, 0, 1, 1]], [-1])])
    with pytest.raises(DataError, match="NaN"):
        ev.process([det([[0, 0, float("nan"), 1]], [.5], [0])], [tgt([], [])])
    ev.process([det([], [], [])], [tgt([], [], image_id=7)])
    with pytest.raises(DataError, match="image id 7 processed twice"):
        ev.process([det([], [], [])], [tgt([], [], image_id=7)])


def test_keys_are_stable_and_fractions():
    ev = Evaluator(NAMES)
    ev.process(PREDS, TGTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ev.summarize()
    for k in ("coco.AP", "coco.AP50", "coco.AP75", "coco.APs", "coco.APm", "coco.APl",
              "coco.AR1", "coco.AR10", "coco.AR100", "coco.ARs", "coco.ARm", "coco.ARl",
              "darknet.mAP50", "darknet.precision", "darknet.recall", "darknet.F1",
              "darknet.avg_iou"):
        assert k in m
    assert all(-1 <= v <= 1 for v in m.values())
    assert {"coco.AP/zero", "coco.AP50/two", "darknet.AP50/one"} <= set(m)


def test_detections_objects_are_accepted():
    from yolov4.predict import Detections

    d = Detections(torch.tensor([[0, 0, 10, 10.]]), torch.tensor([.9]), torch.tensor([0]),
                   ["a"], None, (20, 20))
    ev = Evaluator(["a"], coco=False)
    ev.process([d], [tgt([[0, 0, 10, 10]], [0])])
    assert ev.summarize()["darknet.mAP50"] == 1.0
