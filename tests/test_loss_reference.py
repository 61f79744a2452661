"""The vectorised YOLO loss against a plain-Python transcription of Darknet's loops.

The reference below follows ``src/yolo_layer.c: process_batch`` statement by statement (pass 1 over
every cell and mask anchor, pass 2 over truths in order, ``delta_yolo_class``, the ``iou_thresh``
loop, ``averages_yolo_deltas``) with scalar ``box.c`` similarities. Only the IoU-family box gradient
reuses ``dx_box_iou`` (tested on its own in test_loss_boxes.py). The loss's gradient must equal
−δ of the reference everywhere, which checks ordering, collisions and every switch together.
"""
from __future__ import annotations

import math
import random

import pytest
import torch

from yolov4.loss import LayerSpec, YoloLoss, dx_box_iou


# tiny tensors: one intra-op thread for the module (conftest.one_thread)
pytestmark = pytest.mark.usefixtures("one_thread")


def logistic(v):
    return 1 / (1 + math.exp(-v))


def overlap(x1, w1, x2, w2):
    return min(x1 + w1 / 2, x2 + w2 / 2) - max(x1 - w1 / 2, x2 - w2 / 2)


def box_iou(a, b):
    w, h = overlap(a[0], a[2], b[0], b[2]), overlap(a[1], a[3], b[1], b[3])
    inter = 0.0 if w < 0 or h < 0 else w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return 0.0 if inter == 0 or union == 0 else inter / union


def enclosing(a, b):
    top = min(a[1] - a[3] / 2, b[1] - b[3] / 2)
    bot = max(a[1] + a[3] / 2, b[1] + b[3] / 2)
    left = min(a[0] - a[2] / 2, b[0] - b[2] / 2)
    right = max(a[0] + a[2] / 2, b[0] + b[2] / 2)
    return right - left, bot - top


def box_iou_kind(a, b, kind):
    iou = box_iou(a, b)
    w, h = enclosing(a, b)
    if kind == "giou":
        c = w * h
        u = a[2] * a[3] + b[2] * b[3] - _inter(a, b)
        return iou if c == 0 else iou - (c - u) / c
    c = w * w + h * h
    if kind == "iou" or c == 0:
        return iou
    d = (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2
    if kind == "diou":
        return iou - (d / c) ** 0.6
    ar = 4 / math.pi ** 2 * (math.atan(b[2] / b[3]) - math.atan(a[2] / a[3])) ** 2
    alpha = ar / (1 - iou + ar + 0.000001)
    return iou - (d / c + alpha * ar)


def _inter(a, b):
    w, h = overlap(a[0], a[2], b[0], b[2]), overlap(a[1], a[3], b[1], b[3])
    return 0.0 if w < 0 or h < 0 else w * h


def reference(z, spec, truths, net_w, net_h):
    """Darknet's δ for one layer; z: nested lists [B][A][H][W][K]; truths[b] = [(x,y,w,h,c)]."""
    B, A, H, W, K = len(z), len(z[0]), len(z[0][0]), len(z[0][0][0]), len(z[0][0][0][0])
    C = K - 5
    s = spec.scale_x_y
    anchors = spec.anchors.tolist()
    total = len(anchors)
    on = spec.obj_normalizer
    mult = spec.class_multipliers
    o = [[[[list(v) for v in row] for row in plane] for plane in img] for img in z]
    for b in range(B):
        for n in range(A):
            for j in range(H):
                for i in range(W):
                    v = o[b][n][j][i]
                    if not spec.new_coords:
                        v[0], v[1] = logistic(v[0]), logistic(v[1])
                        for k in range(4, K):
                            v[k] = logistic(v[k])
                    v[0], v[1] = v[0] * s - 0.5 * (s - 1), v[1] * s - 0.5 * (s - 1)
    delta = [[[[[0.0] * K for _ in range(W)] for _ in range(H)] for _ in range(A)] for _ in range(B)]
    info = {"ignored": 0, "tt": 0, "pairs": 0, "iou_loss": 0.0}

    def get_box(v, an, i, j):
        aw, ah = anchors[an]
        if spec.new_coords:
            return ((i + v[0]) / W, (j + v[1]) / H, v[2] * v[2] * 4 * aw / net_w,
                    v[3] * v[3] * 4 * ah / net_h)
        return ((i + v[0]) / W, (j + v[1]) / H, math.exp(v[2]) * aw / net_w,
                math.exp(v[3]) * ah / net_h)

    def delta_box(truth, v, d, an, i, j, scale, norm):
        if spec.iou_loss == "mse":
            aw, ah = anchors[an]
            tx, ty = truth[0] * W - i, truth[1] * H - j
            if spec.new_coords:
                tw, th = math.sqrt(truth[2] * net_w / (4 * aw)), math.sqrt(truth[3] * net_h / (4 * ah))
            else:
                tw, th = math.log(truth[2] * net_w / aw), math.log(truth[3] * net_h / ah)
            for k, t in enumerate((tx, ty, tw, th)):
                d[k] += scale * (t - v[k]) * norm
            return
        pred = list(get_box(v, an, i, j))
        pred[2] = pred[2] or 1.0
        pred[3] = pred[3] or 1.0
        g = dx_box_iou(torch.tensor([pred], dtype=torch.float64),
                       torch.tensor([truth[:4]], dtype=torch.float64), spec.iou_loss)[0].tolist()
        if not spec.new_coords:
            g[2] *= math.exp(v[2])
            g[3] *= math.exp(v[3])
        for k in range(4):
            val = g[k] * norm
            val = 0.0 if not math.isfinite(val) else val
            val = max(-spec.max_delta, min(spec.max_delta, val))
            d[k] += val

    def delta_class(v, d, cid):
        eps = spec.label_smooth_eps
        if d[5 + cid]:
            y = 1 * (1 - eps) + 0.5 * eps if eps else 1.0
            d[5 + cid] = y - v[5 + cid]
            if mult:
                d[5 + cid] *= mult[cid]
            return
        if spec.focal_loss:
            pt = v[5 + cid] + 0.000000000000001
            grad = -(1 - pt) * (2 * pt * math.log(pt) + pt - 1)
            for c in range(C):
                d[5 + c] = ((1 if c == cid else 0) - v[5 + c]) * 0.5 * grad
            return
        for c in range(C):
            y = 1.0 if c == cid else 0.0
            if eps:
                y = y * (1 - eps) + 0.5 * eps
            d[5 + c] = y - v[5 + c]
            if mult and c == cid:
                d[5 + c] *= mult[cid] * spec.cls_normalizer

    for b in range(B):
        for j in range(H):
            for i in range(W):
                for n in range(A):
                    v, d = o[b][n][j][i], delta[b][n][j][i]
                    pred = get_box(v, spec.mask[n], i, j)
                    best_match_iou = best_iou = 0.0
                    best_t = 0
                    for t, truth in enumerate(truths[b]):
                        class_id_match = any(v[5 + c] > 0.25 for c in range(C))
                        iou = box_iou(pred, truth)
                        if iou > best_match_iou and class_id_match:
                            best_match_iou = iou
                        if iou > best_iou:
                            best_iou, best_t = iou, t
                    d[4] = on * (0 - v[4])
                    if best_match_iou > spec.ignore_thresh:
                        info["ignored"] += 1
                        if spec.objectness_smooth:
                            dobj = on * (best_match_iou - v[4])
                            if dobj > d[4]:
                                d[4] = dobj
                        else:
                            d[4] = 0
                    if best_iou > spec.truth_thresh:
                        info["tt"] += 1
                        iou_mult = best_iou * best_iou
                        d[4] = on * ((iou_mult if spec.objectness_smooth else 1) - v[4])
                        cid = truths[b][best_t][4]
                        delta_class(v, d, cid)
                        m = mult[cid] if mult else 1.0
                        if spec.objectness_smooth:
                            d[5 + cid] = m * (iou_mult - v[5 + cid])
                        truth = truths[b][best_t]
                        delta_box(truth, v, d, spec.mask[n], i, j, 2 - truth[2] * truth[3],
                                  spec.iou_normalizer * m)
        for t, truth in enumerate(truths[b]):
            cid = truth[4]
            i, j = int(truth[0] * W), int(truth[1] * H)
            best_iou, best_n = 0.0, 0
            for n in range(total):
                iou = box_iou((0, 0, anchors[n][0] / net_w, anchors[n][1] / net_h),
                              (0, 0, truth[2], truth[3]))
                if iou > best_iou:
                    best_iou, best_n = iou, n
            cands = [best_n] if best_n in spec.mask else []
            for n in range(total):
                if n in spec.mask and n != best_n and spec.iou_thresh < 1.0:
                    a = (0, 0, anchors[n][0] / net_w, anchors[n][1] / net_h)
                    if box_iou_kind(a, (0, 0, truth[2], truth[3]), spec.iou_thresh_kind) > spec.iou_thresh:
                        cands.append(n)
            for n in cands:
                info["pairs"] += 1
                mn = spec.mask.index(n)
                v, d = o[b][mn][j][i], delta[b][mn][j][i]
                pred = get_box(v, n, i, j)   # tot_iou_loss / tot_giou_loss of the printed cost
                info["iou_loss"] += 1 - (box_iou_kind(pred, truth, "giou")
                                         if spec.iou_loss == "giou" else box_iou(pred, truth))
                m = mult[cid] if mult else 1.0
                delta_box(truth, v, d, n, i, j, 2 - truth[2] * truth[3], spec.iou_normalizer * m)
                if spec.objectness_smooth:
                    if d[4] == 0:
                        d[4] = m * on * (1 - v[4])
                else:
                    d[4] = m * on * (1 - v[4])
                delta_class(v, d, cid)
        if spec.iou_thresh < 1.0:
            for j in range(H):
                for i in range(W):
                    for n in range(A):
                        d = delta[b][n][j][i]
                        if d[4] != 0:
                            k = sum(1 for c in range(C) if d[5 + c] > 0)
                            if k > 0:
                                for q in range(4):
                                    d[q] /= k
    return torch.tensor(delta, dtype=torch.float64), info


ANCHORS = [[12, 16], [30, 28], [44, 70], [90, 80]]
NET_H, NET_W = 96, 128  # grid 3 x 4 at stride 32


def make_case(seed, new_coords=False):
    rnd = random.Random(seed)
    truths = [[], []]
    rows = []
    for b in range(2):
        for _ in range(5 if b == 0 else 3):
            w, h = rnd.uniform(10, 100), rnd.uniform(10, 80)
            cx, cy = rnd.uniform(w / 2, NET_W - w / 2), rnd.uniform(h / 2, NET_H - h / 2)
            c = rnd.randrange(3)
            rows.append([b, c, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    # a collision: a second truth in the first truth's cell with a similar shape, other class
    r0 = rows[0]
    rows.append([0, (r0[1] + 1) % 3, r0[2] + 1.0, r0[3] + 0.5, r0[4] + 1.5, r0[5] + 0.5])
    t = torch.tensor(rows, dtype=torch.float32)
    for r in t.tolist():  # normalised exactly as the loss does it (float32)
        tt = torch.tensor(r, dtype=torch.float32)
        x1, y1, x2, y2 = tt[2] / NET_W, tt[3] / NET_H, tt[4] / NET_W, tt[5] / NET_H
        box = [float((x1 + x2) / 2), float((y1 + y2) / 2), float(x2 - x1), float(y2 - y1)]
        truths[int(r[0])].append(box + [int(r[1])])
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(2, 2, 3, 4, 8, generator=g, dtype=torch.float64)
    if new_coords:
        z = torch.sigmoid(z)
    return z, t, truths


CASES = {
    "defaults": dict(),
    "thresh_smooth": dict(iou_thresh=0.2, label_smooth_eps=0.1, scale_x_y=1.1, ignore_thresh=0.3),
    "ciou_all": dict(iou_loss="ciou", iou_normalizer=0.07, iou_thresh=0.2, iou_thresh_kind="giou",
                     objectness_smooth=True, truth_thresh=0.5, ignore_thresh=0.2, max_delta=0.5,
                     class_multipliers=[1.0, 2.0, 4.0], cls_normalizer=2.0, obj_normalizer=0.5),
    "focal_diou": dict(iou_loss="diou", focal_loss=True, iou_thresh=0.25, iou_thresh_kind="ciou",
                       ignore_thresh=0.25),
    "giou_new_coords": dict(iou_loss="giou", new_coords=True, iou_thresh=0.2, scale_x_y=2.0),
    "mse_new_coords": dict(new_coords=True, truth_thresh=0.4),
    "multipliers": dict(class_multipliers=[1.0, 3.0, 0.5], cls_normalizer=1.5, iou_thresh=0.2),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_equals_darknet_reference(name, seed):
    kw = CASES[name]
    spec = LayerSpec(anchors=ANCHORS, mask=[1, 2], classes=3, **kw)
    z, targets, truths = make_case(seed, new_coords=kw.get("new_coords", False))
    ref, info = reference(z.tolist(), spec, truths, NET_W, NET_H)
    assert info["pairs"] > 0
    zz = z.float().requires_grad_(True)
    total, parts = YoloLoss(specs=[spec])([zz], targets, (NET_H, NET_W))
    total.backward()
    torch.testing.assert_close(-zz.grad.double(), ref, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_printed_cost_equals_darknet_reference(name):
    """``last_stats["darknet_cost"]`` is Darknet's ``*(l.cost)`` (show_details=1): mse ‖δ‖²,
    else obj_normalizer·‖δ without box channels‖² + iou_normalizer·Σ(1 − IoU or GIoU)/count."""
    kw = CASES[name]
    spec = LayerSpec(anchors=ANCHORS, mask=[1, 2], classes=3, **kw)
    z, targets, truths = make_case(0, new_coords=kw.get("new_coords", False))
    ref, info = reference(z.tolist(), spec, truths, NET_W, NET_H)
    if spec.iou_loss == "mse":
        expect = float((ref * ref).sum())
    else:
        rest = ref[..., 4:]
        expect = (spec.obj_normalizer * float((rest * rest).sum())
                  + spec.iou_normalizer * info["iou_loss"] / max(info["pairs"], 1))
    loss = YoloLoss(specs=[spec, spec])     # two layers: the printed value is their mean
    loss([z.float(), z.float()], targets, (NET_H, NET_W))
    assert loss.last_stats["darknet_cost"] == pytest.approx(expect, rel=1e-4)


def test_reference_cases_exercise_the_rare_paths():
    # the switches above are only meaningful if their paths are hit
    seen = {"ignored": 0, "tt": 0}
    for name in ("ciou_all", "mse_new_coords", "thresh_smooth"):
        for seed in (0, 1):
            kw = CASES[name]
            spec = LayerSpec(anchors=ANCHORS, mask=[1, 2], classes=3, **kw)
            z, _, truths = make_case(seed, new_coords=kw.get("new_coords", False))
            _, info = reference(z.tolist(), spec, truths, NET_W, NET_H)
            for k in seen:
                seen[k] += info[k]
    assert seen["ignored"] > 0 and seen["tt"] > 0
