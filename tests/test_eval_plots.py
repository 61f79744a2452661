"""Confusion matrix (hand-worked), results JSON reading, and the PNG plots."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from yolov4.eval.confusion import image_confusion
from yolov4.eval.evaluator import Evaluator
from yolov4.eval.plots import f1_on_grid, pr_on_grid, save_plots
from yolov4.eval.results import load_results


def test_confusion_matrix_hand_worked():
    # 2 classes, background index 2. Truths: T0 [0,0,10,10] class 0, T1 [20,20,30,30] class 1,
    # T2 [50,50,60,60] class 1, T3 [80,80,90,90] class 0 crowd (ignored).
    # Detections: a [0,0,10,10] s.9 cls 0 -> T0 (IoU 1): m[0,0]
    #             b [20,20,30,29] s.8 cls 0 -> T1 (IoU .9), wrong class: m[0,1]
    #             c [0,0,10,9] s.7 cls 0 -> T0 already paired: background FP m[0,2]
    #             d [80,80,90,90] s.6 cls 1 -> ignored truth: not counted
    #             e [100,100,110,110] s.1 below conf .25: not counted
    # Missed: T2 -> m[2,1]
    m = np.zeros((3, 3), np.int64)
    image_confusion(m, np.array([[0, 0, 10, 10], [20, 20, 30, 29], [0, 0, 10, 9],
                                 [80, 80, 90, 90], [100, 100, 110, 110]], float),
                    np.array([.9, .8, .7, .6, .1]), np.array([0, 0, 0, 1, 1]),
                    np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60],
                              [80, 80, 90, 90]], float),
                    np.array([0, 1, 1, 0]), np.array([False, False, False, True]))
    assert m.tolist() == [[1, 1, 1], [0, 0, 0], [0, 1, 0]]


def test_greedy_pairing_prefers_higher_iou():
    # one truth [0,0,10,10]; det x [0,0,10,6] (IoU .6, s .9) and y [0,0,10,9] (IoU .9, s .5):
    # pairs by IoU, so y takes the truth and x is a background FP.
    m = np.zeros((2, 2), np.int64)
    image_confusion(m, np.array([[0, 0, 10, 6], [0, 0, 10, 9]], float), np.array([.9, .5]),
                    np.array([0, 0]), np.array([[0, 0, 10, 10]], float), np.array([0]))
    assert m.tolist() == [[1, 1], [0, 0]]


def _evaluator():
    ev = Evaluator(["a", "b"], coco=False)
    # class a: TP (.9), FP (.6), TP (.3) with 2 truths; class b: 1 truth, no detections
    ev.process([{"boxes": torch.tensor([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30.]]),
                 "scores": torch.tensor([.9, .6, .3]), "labels": torch.tensor([0, 0, 0])}],
               [{"boxes": torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30], [70, 70, 80, 80.]]),
                 "labels": torch.tensor([0, 0, 1]), "image_size": (100, 100)}])
    ev.summarize()
    return ev


def test_curves_on_grids():
    ev = _evaluator()
    m = ev.darknet_result
    # ranks: P = 1, 1/2, 2/3; R = 1/2, 1/2, 1. Envelope: 1, 2/3, 2/3.
    pr = pr_on_grid(m, 0)
    assert pr[0] == 1 and pr[50] == 1
    assert pr[51] == pytest.approx(2 / 3) and pr[100] == pytest.approx(2 / 3)
    assert not pr_on_grid(m, 1).any()
    # F1 at confidence t keeps scores > t: t=.5 -> {.9,.6}: P 1/2, R 1/2 -> F1 .5;
    # t=.2 -> all: P 2/3, R 1 -> F1 .8; t=.95 -> none -> 0
    f1 = f1_on_grid(m, 0)
    assert f1[50] == pytest.approx(0.5) and f1[20] == pytest.approx(0.8) and f1[95] == 0


def test_save_plots_writes_pngs_without_touching_the_global_backend(tmp_path):
    before = sys.modules.get("matplotlib.pyplot")
    files = save_plots(_evaluator(), tmp_path / "plots")
    assert [f.name for f in files] == ["PR_curve.png", "F1_curve.png", "confusion_matrix.png"]
    for f in files:
        assert f.read_bytes()[:4] == b"\x89PNG"
    assert sys.modules.get("matplotlib.pyplot") is before  # pyplot never imported by us


class _DS:
    format = "yolo"
    names = ["a", "b"]
    paths = ["/data/images/x.jpg", "/data/images/sub/y.jpg"]
    image_ids = [0, 1]
    category_ids = [0, 1]


def test_load_results_by_file_name_and_path(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps([
        {"file_name": "x.jpg", "category_id": 1, "bbox": [1, 2, 3, 4], "score": .5},
        {"file_name": "sub/y.jpg", "category_id": 0, "bbox": [0, 0, 10, 10], "score": .7},
        {"file_name": "x.jpg", "category_id": 0, "bbox": [5, 5, 1, 1], "score": .2}]))
    out = load_results(p, _DS())
    assert out[0]["boxes"].tolist() == [[1, 2, 4, 6], [5, 5, 6, 6]]
    assert out[0]["labels"].tolist() == [1, 0] and out[0]["scores"].tolist() == [.5, .2]
    assert out[1]["boxes"].tolist() == [[0, 0, 10, 10]]
