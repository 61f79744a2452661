"""Target assignment of the YOLO loss: best anchor over all anchors, iou_thresh, ignore rule,
collisions; checked through the gradient w.r.t. the raw outputs (grad = −Darknet δ)."""
from __future__ import annotations

import math

import pytest
import torch

from yolov4.errors import CfgError, DataError
from yolov4.loss import LayerSpec, YoloLoss, match_anchors, prepare_truths


# tiny tensors: one intra-op thread for the module (conftest.one_thread)
pytestmark = pytest.mark.usefixtures("one_thread")


ANCHORS = [[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319]]
NET = (128, 128)  # input (H, W); the layer below has a 4x4 grid (stride 32)


def spec(mask=(3, 4, 5), classes=2, **kw):
    kw.setdefault("iou_loss", "mse")
    return LayerSpec(anchors=ANCHORS, mask=list(mask), classes=classes, **kw)


def grads(loss, zs, targets):
    zs = [z.clone().requires_grad_(True) for z in zs]
    total, parts = loss(zs, targets, NET)
    total.backward()
    return [z.grad for z in zs], total, parts


def positives(g):
    """Slots whose objectness gradient is negative (target 1 > σ(0) = 0.5)."""
    return sorted(tuple(int(v) for v in idx) for idx in (g[..., 4] < 0).nonzero())


# Truth 80x80 centred at (50, 84): x1,y1,x2,y2 = 10,44,90,124 -> cell i = int(50/128*4) = 1,
# j = int(84/128*4) = 2. Shape IoU with the anchors (centre-aligned):
#   81x82: 6400 / (6400 + 6642 - 6400) = 0.9636   <- best of all 6
#   135x169: 6400 / 22815 = 0.2805 (> 0.213)
#   344x319: 6400 / 109736 = 0.0583
TRUTH = torch.tensor([[0, 1, 10, 44, 90, 124]], dtype=torch.float32)


def test_best_anchor_only_without_iou_thresh():
    g, _, _ = grads(YoloLoss(specs=[spec()]), [torch.zeros(1, 3, 4, 4, 7)], TRUTH)
    assert positives(g[0]) == [(0, 0, 2, 1)]  # (b, mask slot of anchor 3, j, i)


def test_several_anchors_per_truth_under_iou_thresh():
    g, _, _ = grads(YoloLoss(specs=[spec(iou_thresh=0.213)]), [torch.zeros(1, 3, 4, 4, 7)], TRUTH)
    assert positives(g[0]) == [(0, 0, 2, 1), (0, 1, 2, 1)]  # anchors 3 and 4 (0.2805 > 0.213)
    g, _, _ = grads(YoloLoss(specs=[spec(iou_thresh=0.29)]), [torch.zeros(1, 3, 4, 4, 7)], TRUTH)
    assert positives(g[0]) == [(0, 0, 2, 1)]


def test_best_anchor_searched_over_all_anchors_and_layers():
    # Truth 60x60 (x1,y1,x2,y2 = 34,34,94,94; centre (64,64) -> 4x4 cell (2,2), 8x8 cell (4,4)).
    # Shape IoU: 37x58: 2146/3600 = 0.596 (best, anchor 2); 81x82: 3600/6642 = 0.542;
    # 23x27: 621/3600 = 0.1725; 135x169: 3600/22815 = 0.158.
    t = torch.tensor([[0, 0, 34, 34, 94, 94]], dtype=torch.float32)
    small, large = spec(mask=(0, 1, 2)), spec(mask=(3, 4, 5))
    zs = [torch.zeros(1, 3, 8, 8, 7), torch.zeros(1, 3, 4, 4, 7)]
    g, _, _ = grads(YoloLoss(specs=[small, large]), zs, t)
    assert positives(g[0]) == [(0, 2, 4, 4)] and positives(g[1]) == []
    # with iou_thresh the 81x82 anchor of the other layer is positive too (0.542 > 0.213)
    loss = YoloLoss(specs=[small, large], iou_thresh=0.213)
    g, _, _ = grads(loss, zs, t)
    assert positives(g[0]) == [(0, 2, 4, 4)] and positives(g[1]) == [(0, 0, 2, 2)]


def test_iou_thresh_kind_selects_the_similarity():
    # Truth 40x120 (centre (64,64)); best anchor 37x58 (IoU 2146/4800 = 0.447) is not in mask
    # 3,4,5. Anchor 81x82 vs the truth shape, centre-aligned:
    #   IoU  = 40*82 / (4800 + 6642 - 3280) = 3280/8162 = 0.4019 (= DIoU: same centres)
    #   GIoU = IoU - (81*120 - 8162)/(81*120) = 0.4019 - 1558/9720 = 0.2415
    #   CIoU = IoU - alpha v, v = 4/pi^2 (atan(40/120) - atan(81/82))^2 = 0.0848,
    #          alpha = v/(1 - IoU + v) = 0.1242 -> 0.3913
    t = torch.tensor([[0, 0, 44, 4, 84, 124]], dtype=torch.float32)
    tr = prepare_truths(t, 1, NET, 2)
    expect = {0.35: {"iou": [3], "diou": [3], "giou": [], "ciou": [3]},
              0.395: {"iou": [3], "diou": [3], "giou": [], "ciou": []},
              0.24: {"iou": [3], "diou": [3], "giou": [3], "ciou": [3]}}
    for thresh, kinds in expect.items():
        for kind, anchors in kinds.items():
            p = match_anchors(tr, spec(iou_thresh=thresh, iou_thresh_kind=kind), (4, 4), NET)
            assert p.n.tolist() == anchors, (thresh, kind)


def test_ignore_rule_and_compare_yolo_class_quirk():
    # Slot (a=2: anchor 344x319, j=2, i=1) is not assigned (IoU 0.058). Make it predict the
    # truth exactly: x,y logits 0 -> centre of cell (1,2) = (48, 80)... use a truth centred
    # there: x1,y1,x2,y2 = 8,40,88,120 (80x80) and w,h logits log(80/344), log(80/319).
    t = torch.tensor([[0, 1, 8, 40, 88, 120]], dtype=torch.float32)
    z = torch.zeros(1, 3, 4, 4, 7)
    z[0, 2, 2, 1, 2] = math.log(80 / 344)
    z[0, 2, 2, 1, 3] = math.log(80 / 319)
    loss = YoloLoss(specs=[spec(ignore_thresh=0.7)])
    g, _, _ = grads(loss, [z], t)
    assert g[0][0, 2, 2, 1, 4] == 0  # IoU 1 > 0.7 and class probs 0.5 > 0.25: ignored
    z[0, 2, 2, 1, 5:] = torch.tensor([3.0, -5.0])  # only the *wrong* class (0) is > 0.25
    g, _, _ = grads(loss, [z], t)
    assert g[0][0, 2, 2, 1, 4] == 0  # still ignored: compare_yolo_class ignores the truth class
    z[0, 2, 2, 1, 5:] = -5.0  # no class prob > 0.25 -> never ignored, whatever the IoU
    g, _, _ = grads(loss, [z], t)
    assert g[0][0, 2, 2, 1, 4] == pytest.approx(0.5)  # grad = σ(0) − 0


def test_two_truths_in_one_slot_multilabel_and_averaging():
    # Two 80x80 truths in the same cell/anchor, classes 0 and 1; z = 0 (σ = .5), MSE, norm .75.
    # Box deltas add; classes become multi-label (δ = 1 − .5 for both); with iou_thresh < 1 the
    # box deltas are divided by the number of classes with positive delta (2).
    t = torch.tensor([[0, 0, 10, 44, 90, 124], [0, 1, 6, 40, 86, 120]], dtype=torch.float32)
    z = torch.zeros(1, 3, 4, 4, 7)
    # per truth: tx = cx/32 − 1, ty = cy/32 − 2; o = .5; scale = 2 − (80/128)^2 = 1.609375
    sc = (2 - (80 / 128) ** 2) * 0.75
    dx = sc * ((50 / 32 - 1 - 0.5) + (46 / 32 - 1 - 0.5))
    dy = sc * ((84 / 32 - 2 - 0.5) + (80 / 32 - 2 - 0.5))
    dw = sc * 2 * math.log(80 / 81)
    dh = sc * 2 * math.log(80 / 82)
    g, _, _ = grads(YoloLoss(specs=[spec()]), [z], t)
    assert (-g[0][0, 0, 2, 1, :4]).tolist() == pytest.approx([dx, dy, dw, dh], rel=1e-5)
    assert (-g[0][0, 0, 2, 1, 5:]).tolist() == pytest.approx([0.5, 0.5])
    # iou_thresh = 0.9 (< 1, adds no anchor here: 0.28 < 0.9) switches on the averaging
    g, _, _ = grads(YoloLoss(specs=[spec(iou_thresh=0.9)]), [z], t)
    assert (-g[0][0, 0, 2, 1, :4]).tolist() == pytest.approx([dx / 2, dy / 2, dw / 2, dh / 2],
                                                             rel=1e-5)


def test_truth_order_and_first_last_flags():
    t = torch.tensor([[0, 0, 10, 44, 90, 124], [1, 0, 10, 44, 90, 124],
                      [0, 1, 6, 40, 86, 120]], dtype=torch.float32)
    tr = prepare_truths(t, 2, NET, 2)
    p = match_anchors(tr, spec(iou_thresh=0.213), (4, 4), NET)
    # order: truth 0 (best 3, then 4), truth 1 (3, 4), truth 2 (3, 4)
    assert p.t.tolist() == [0, 0, 1, 1, 2, 2] and p.n.tolist() == [3, 4, 3, 4, 3, 4]
    assert p.first.tolist() == [True, True, True, True, False, False]
    assert p.last.tolist() == [False, False, True, True, True, True]


def test_bad_targets_raise_clear_errors():
    loss = YoloLoss(specs=[spec()])
    z = [torch.zeros(1, 3, 4, 4, 7)]
    with pytest.raises(DataError, match="class 5"):
        loss(z, torch.tensor([[0, 5, 10, 10, 50, 50.]]), NET)
    with pytest.raises(DataError, match="image index 3"):
        loss(z, torch.tensor([[3, 0, 10, 10, 50, 50.]]), NET)
    with pytest.raises(DataError, match="Tensor\\[M, 6\\]"):
        loss(z, torch.zeros(2, 5), NET)
    with pytest.raises(CfgError, match="iou_loss"):
        spec(iou_loss="siou")
    # zero-size boxes are dropped, an empty target set is fine (all negatives)
    total, parts = loss(z, torch.tensor([[0, 0, 10, 10, 10, 50.]]), NET)
    assert parts["box"] == 0 and parts["cls"] == 0 and parts["obj"] > 0
