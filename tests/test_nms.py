"""NMS family against plain-Python references (random boxes) and hand-worked small cases."""
from __future__ import annotations

import math

import pytest
import torch

from yolov4.ops import nms as nms_mod
from yolov4.ops.nms import hard_nms, nms_from_cfg, non_max_suppression, soft_nms


# ---------------------------------------------------------------- plain-Python references
def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return 0.0 if inter == 0 or union == 0 else inter / union


def _diou(a, b, beta):  # Darknet's box_diounms on corner boxes
    c = (max(a[2], b[2]) - min(a[0], b[0])) ** 2 + (max(a[3], b[3]) - min(a[1], b[1])) ** 2
    iou = _iou(a, b)
    if c == 0:
        return iou
    d = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    return iou - (d / c) ** beta


def ref_hard(boxes, scores, classes, thr, kind="greedy", beta=0.6):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        ok = True
        for k in kept:
            if classes is not None and classes[k] != classes[i]:
                continue
            sim = _iou(boxes[k], boxes[i]) if kind == "greedy" else _diou(boxes[k], boxes[i], beta)
            if sim > thr:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def ref_soft(boxes, scores, classes, thr, method, sigma, score_thr):
    s = list(scores)
    alive = [v > score_thr for v in s]
    keep, ks = [], []
    while any(alive):
        i = max((j for j in range(len(s)) if alive[j]), key=lambda j: (s[j], -j))
        keep.append(i)
        ks.append(s[i])
        alive[i] = False
        for j in range(len(s)):
            if not alive[j] or (classes is not None and classes[j] != classes[i]):
                continue
            o = _iou(boxes[i], boxes[j])
            if method == "linear":
                s[j] *= (1 - o) if o >= thr else 1.0
            else:
                s[j] *= math.exp(-o * o / sigma)
            alive[j] = s[j] > score_thr
    return keep, ks


def _random_boxes(n, seed, classes=3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(6, 2, generator=g, dtype=torch.float64) * 100  # clusters -> overlaps
    c = centres[torch.randint(0, 6, (n,), generator=g)] + torch.randn(n, 2, generator=g,
                                                                        dtype=torch.float64) * 6
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 30 + 5
    boxes = torch.cat([c - wh / 2, c + wh / 2], 1)
    scores = torch.rand(n, generator=g, dtype=torch.float64)
    cls = torch.randint(0, classes, (n,), generator=g)
    return boxes, scores, cls


@pytest.mark.parametrize("kind,beta", [("greedy", 0.6), ("diou", 0.6), ("diou", 1.0)])
@pytest.mark.parametrize("per_class", [True, False])
@pytest.mark.parametrize("block", [256, 7])  # 7 exercises the multi-block path
def test_hard_nms_matches_python_reference(kind, beta, per_class, block, monkeypatch):
    monkeypatch.setattr(nms_mod, "BLOCK", block)
    for seed in range(4 if block > 100 else 2):
        boxes, scores, cls = _random_boxes(150, seed)
        cl = cls if per_class else None
        for thr in (0.3, 0.5):
            got = hard_nms(boxes, scores, thr, cl, kind=kind, beta=beta).tolist()
            exp = ref_hard(boxes.tolist(), scores.tolist(), None if cl is None else cls.tolist(),
                           thr, kind, beta)
            # reference returns per-class greedy picks in global score order
            assert got == sorted(exp, key=lambda i: (-float(scores[i]), i))


def test_hard_nms_ties_keep_input_order():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 11, 11]], dtype=torch.float32)
    scores = torch.tensor([0.5, 0.5, 0.5])
    assert hard_nms(boxes, scores, 0.45).tolist() == [0]


@pytest.mark.parametrize("method", ["linear", "gaussian"])
@pytest.mark.parametrize("per_class", [True, False])
def test_soft_nms_matches_python_reference(method, per_class):
    for seed in range(3):
        boxes, scores, cls = _random_boxes(60, seed + 10)
        cl = cls if per_class else None
        keep, ks = soft_nms(boxes, scores, 0.3, cl, method=method, sigma=0.5,
                            score_threshold=0.05)
        rk, rs = ref_soft(boxes.tolist(), scores.tolist(), None if cl is None else cls.tolist(),
                          0.3, method, 0.5, 0.05)
        assert keep.tolist() == rk
        assert torch.allclose(ks, torch.tensor(rs, dtype=torch.float64), atol=1e-12)


# ---------------------------------------------------------------- hand-worked cases
# A = [0,0,2,2], B = [1,0,3,2]: intersection 1x2 = 2, union 4 + 4 - 2 = 6 -> IoU = 1/3.
# Enclosing box [0,0,3,2]: c^2 = 3^2 + 2^2 = 13; centres (1,1) and (2,1): rho^2 = 1.
# DIoU(beta=1)   = 1/3 - 1/13           = 0.2564
# DIoU(beta=0.6) = 1/3 - (1/13)^0.6     = 0.3333 - 0.2146 = 0.1187
A_B = torch.tensor([[0.0, 0, 2, 2], [1.0, 0, 3, 2]])
S_AB = torch.tensor([0.9, 0.8])


@pytest.mark.parametrize("thr,kind,beta,expected", [
    (0.3, "greedy", 0.6, [0]),    # IoU .333 > .3 -> B suppressed
    (0.3, "diou", 1.0, [0, 1]),   # .256 <= .3 -> kept
    (0.2, "diou", 1.0, [0]),      # .256 > .2 -> suppressed
    (0.2, "diou", 0.6, [0, 1]),   # .119 <= .2 -> kept: beta_nms matters
    (0.1, "diou", 0.6, [0]),      # .119 > .1
])
def test_diou_nms_hand_worked(thr, kind, beta, expected):
    assert hard_nms(A_B, S_AB, thr, kind=kind, beta=beta).tolist() == expected


def test_soft_nms_hand_worked():
    boxes = torch.cat([A_B, torch.tensor([[10.0, 10, 12, 12], [0.0, 0, 2, 2]])])
    scores = torch.tensor([0.9, 0.8, 0.6, 0.7])  # D duplicates A exactly (IoU 1)
    # linear, Nt=.3: pick A; B: IoU 1/3 >= .3 -> .8 * 2/3 = .5333; D: IoU 1 -> 0 -> dropped;
    # C: IoU 0 -> .6. Then C (.6), then B (.5333).
    keep, s = soft_nms(boxes, scores, 0.3, method="linear", score_threshold=0.001)
    assert keep.tolist() == [0, 2, 1]
    assert torch.allclose(s, torch.tensor([0.9, 0.6, 0.8 * 2 / 3]), atol=1e-6)
    # gaussian, sigma=.5: after A, B: .8 * exp(-(1/9)/.5) = .8 * .80074 = .64059 and
    # D: .7 * exp(-1/.5) = .09473; after B (IoU(B, D) = 1/3), D: .09473 * .80074 = .07585;
    # C untouched at .6 and picked between B and D.
    keep, s = soft_nms(boxes, scores, 0.3, method="gaussian", sigma=0.5, score_threshold=0.001)
    assert keep.tolist() == [0, 1, 2, 3]
    assert torch.allclose(s, torch.tensor([0.9, 0.64059, 0.6, 0.07585]), atol=1e-5)


def test_soft_nms_is_per_class_and_max_det():
    boxes = torch.tensor([[0.0, 0, 2, 2], [0.0, 0, 2, 2], [0.0, 0, 2, 2]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    cls = torch.tensor([0, 1, 0])
    keep, s = non_max_suppression(boxes, scores, cls, kind="soft-linear", iou_threshold=0.3)
    assert keep.tolist() == [0, 1]  # box 2 (class 0, IoU 1 with box 0) decays to 0
    keep, _ = non_max_suppression(boxes, scores, cls, kind="greedy", agnostic=True)
    assert keep.tolist() == [0]
    keep, _ = non_max_suppression(boxes, scores, torch.tensor([0, 1, 2]), max_det=2)
    assert keep.tolist() == [0, 1]


def test_nms_from_cfg_darknet_names():
    assert nms_from_cfg("default", 0.6) == ("greedy", 0.6)
    assert nms_from_cfg("greedynms", 0.3) == ("diou", 0.6)  # box_diou: fixed 0.6
    assert nms_from_cfg("diounms", 0.3) == ("diou", 0.3)


def test_empty_and_bad_kind():
    keep, s = non_max_suppression(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64))
    assert keep.numel() == 0 and s.numel() == 0
    with pytest.raises(ValueError):
        non_max_suppression(A_B, S_AB, kind="fast")
