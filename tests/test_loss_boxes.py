"""IoU family on known box pairs and Darknet's ``dx_box_iou`` gradients (hand-derived and autograd)."""
from __future__ import annotations

import math

import pytest
import torch

from yolov4.loss.box_loss import dx_box_iou, yolo_box_deltas
from yolov4.ops.boxes import bbox_similarity, box_convert


# tiny tensors: one intra-op thread for the module (conftest.one_thread)
pytestmark = pytest.mark.usefixtures("one_thread")



def sim(a, b, kind):
    return float(bbox_similarity(torch.tensor(a, dtype=torch.float64),
                                 torch.tensor(b, dtype=torch.float64), kind))


def test_iou_family_overlapping_squares():
    # A=(0,0,2,2), B=(1,1,3,3): I=1, U=4+4-1=7 -> IoU=1/7.
    # Enclosing box (0,0,3,3): C=9 -> GIoU = 1/7 - (9-7)/9 = -5/63.
    # Centres (1,1),(2,2): rho^2 = 2, c^2 = 3^2+3^2 = 18 -> DIoU = 1/7 - 1/9 = 2/63.
    # Same aspect ratio -> v = 0 -> CIoU = DIoU.
    a, b = [0, 0, 2, 2], [1, 1, 3, 3]
    assert sim(a, b, "iou") == pytest.approx(1 / 7, abs=1e-9)
    assert sim(a, b, "giou") == pytest.approx(-5 / 63, abs=1e-9)
    assert sim(a, b, "diou") == pytest.approx(2 / 63, abs=1e-9)
    assert sim(a, b, "ciou") == pytest.approx(2 / 63, abs=1e-9)


def test_iou_family_crossed_rectangles():
    # A=(0,0,4,2) (w4,h2), B=(0,0,2,4): I=2*2=4, U=8+8-4=12 -> IoU=1/3.
    # Enclosing (0,0,4,4): C=16 -> GIoU = 1/3 - 4/16 = 1/12.
    # Centres (2,1),(1,2): rho^2=2, c^2=32 -> DIoU = 1/3 - 1/16 = 13/48.
    # v = 4/pi^2 (atan(2/4) - atan(4/2))^2 = 4/pi^2 atan(3/4)^2 (atan 2 - atan .5 = atan 3/4);
    # alpha = v / (1 - 1/3 + v); CIoU = DIoU - alpha v  (= 0.23708...).
    a, b = [0, 0, 4, 2], [0, 0, 2, 4]
    v = 4 / math.pi ** 2 * math.atan(0.75) ** 2
    alpha = v / (1 - 1 / 3 + v)
    assert sim(a, b, "iou") == pytest.approx(1 / 3, abs=1e-9)
    assert sim(a, b, "giou") == pytest.approx(1 / 12, abs=1e-9)
    assert sim(a, b, "diou") == pytest.approx(13 / 48, abs=1e-9)
    assert sim(a, b, "ciou") == pytest.approx(13 / 48 - alpha * v, abs=1e-7)
    assert sim(a, b, "ciou") == pytest.approx(0.237081, abs=1e-5)


def test_iou_family_disjoint():
    # A=(0,0,1,1), B=(2,0,3,1): IoU 0; enclosing (0,0,3,1): C=3, U=2 -> GIoU = -1/3;
    # centres 2 apart: rho^2=4, c^2 = 9+1 = 10 -> DIoU = -0.4 = CIoU (same aspect).
    a, b = [0, 0, 1, 1], [2, 0, 3, 1]
    assert sim(a, b, "iou") == 0.0
    assert sim(a, b, "giou") == pytest.approx(-1 / 3, abs=1e-9)
    assert sim(a, b, "diou") == pytest.approx(-0.4, abs=1e-9)
    assert sim(a, b, "ciou") == pytest.approx(-0.4, abs=1e-9)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
def test_similarity_gradient_finite_at_degenerate_boxes(kind):
    # zero width, zero height, zero area, identical boxes, disjoint: value and gradient finite
    pairs = [([1., 1., 1., 3.], [0., 0., 2., 2.]),   # pred w = 0
             ([1., 1., 3., 1.], [0., 0., 2., 2.]),   # pred h = 0
             ([1., 1., 1., 1.], [0., 0., 2., 2.]),   # pred is a point
             ([0., 0., 2., 2.], [0., 0., 2., 2.]),   # identical
             ([0., 0., 2., 2.], [0., 0., 2., 0.]),   # truth h = 0
             ([5., 5., 6., 6.], [0., 0., 2., 2.])]   # disjoint
    for pa, pb in pairs:
        a = torch.tensor(pa, requires_grad=True)
        b = torch.tensor(pb, requires_grad=True)
        s = bbox_similarity(a, b, kind)
        s.backward()
        assert torch.isfinite(s), (kind, pa, pb)
        assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all(), (kind, pa, pb)


def test_darknet_box_deltas_finite_at_degenerate_boxes():
    # pred w or h = 0 (Darknet swaps in 1.0), identical boxes, tiny truths: no NaN reaches δ
    o4 = torch.tensor([[0.5, 0.5, -200.0, 0.0], [0.5, 0.5, 0.0, -200.0], [0.5, 0.5, 0.0, 0.0]])
    truth = torch.tensor([[0.5, 0.5, 0.25, 0.25], [0.5, 0.5, 1e-6, 1e-6], [0.5, 0.5, 0.25, 0.25]])
    for kind in ("iou", "giou", "diou", "ciou"):
        d, v, iou = yolo_box_deltas(o4, torch.zeros(3), torch.zeros(3),
                                    torch.full((3, 2), 8.0), truth, (1, 1), (32, 32),
                                    iou_loss=kind, iou_normalizer=torch.ones(3))
        assert torch.isfinite(d).all() and torch.isfinite(v).all(), kind
    # Third row: pred = (0.5, 0.5, 8/32, 8/32) = truth, identical boxes. Darknet's min/max
    # subgradients treat equal edges as "not inside" (dI = 0), so dU = dX: with A = I = U = 1/16,
    # p_dt = -I*dX_t/U^2 = w/A = 4, p_db = -4, p_dl = h/A = 4, p_dr = -4
    # -> dx = dy = 0, dw = p_dr - p_dl = -8, dh = -8 (no distance/aspect term; e^0 = 1).
    assert d[2].tolist() == pytest.approx([0.0, 0.0, -8.0, -8.0])


def test_overflowing_box_logs_a_finite_loss():
    """tw = 100: exp overflows fp32, the predicted box is infinite. Darknet zeroes the delta
    (fix_nan_inf); the logged value must stay finite too (no overlap: iou_normalizer * 1), or
    the trainer would take a finite update for a NaN loss."""
    o4 = torch.tensor([[0.5, 0.5, 100.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    truth = torch.tensor([[0.5, 0.5, 0.25, 0.25], [0.6, 0.5, 0.3, 0.25]])
    for kind in ("iou", "giou", "diou", "ciou"):
        d, v, _ = yolo_box_deltas(o4, torch.zeros(2), torch.zeros(2), torch.full((2, 2), 8.0),
                                  truth, (1, 1), (32, 32), iou_loss=kind,
                                  iou_normalizer=torch.full((2,), 0.07))
        assert torch.isfinite(v).all(), kind
        assert v[0].item() == pytest.approx(0.07) and d[0].tolist() == [0.0] * 4, kind
        assert d[1].abs().sum() > 0                                # the sane row still learns


def dn(pred, truth, kind):
    return dx_box_iou(torch.tensor([pred], dtype=torch.float64),
                      torch.tensor([truth], dtype=torch.float64), kind)[0].tolist()


def test_dx_box_iou_hand_derived_inside():
    # pred (0.5,0.5,0.2,0.2) inside truth (0.55,0.5,0.4,0.4):
    # pred t,b,l,r = .4,.6,.4,.6; truth = .3,.7,.35,.75. I = .2*.2 = .04, U = .16 (truth area).
    # dI/dt = -Iw = -.2 (pred_t > truth_t), dI/db = .2, dI/dl = -Ih = -.2, dI/dr = .2;
    # dU = dX - dI = 0 on every edge -> p_d = dI/U = (-1.25, 1.25, -1.25, 1.25) for (t,b,l,r).
    # dx = dl + dr = 0, dy = 0, dw = dr - dl = 2.5, dh = 2.5 (2x the analytic h/U = 1.25).
    assert dn([0.5, 0.5, 0.2, 0.2], [0.55, 0.5, 0.4, 0.4], "iou") == pytest.approx([0, 0, 2.5, 2.5])
    # GIoU: the enclosing box is the truth, C = U -> (C dU - U dC)/C^2 = 0: same as IoU.
    assert dn([0.5, 0.5, 0.2, 0.2], [0.55, 0.5, 0.4, 0.4], "giou") == pytest.approx([0, 0, 2.5, 2.5])
    # DIoU: S = .05^2, enclosing = truth: Cw = Ch = .4, C = .32, dCw/dx = 0 (pred inside),
    # dx += 2 (tx - px) C / C^2 = 2*.05/.32 = .3125; dw term 2 Cw dCw/dw S / C^2 = 0.
    assert dn([0.5, 0.5, 0.2, 0.2], [0.55, 0.5, 0.4, 0.4], "diou") == pytest.approx(
        [0.3125, 0, 2.5, 2.5])


def test_dx_box_iou_ciou_aspect_term():
    # pred (0.5,0.5,0.2,0.2) inside truth (0.5,0.5,0.4,0.3): I=.04, U=.12 (IoU 1/3),
    # IoU part: dw = dh = 2*.2/.12 = 10/3. Same centres -> no distance term.
    # diff = atan(.4/.3) - atan(1); v = 4/pi^2 diff^2; alpha = v / (1 - 1/3 + v + 1e-6);
    # Darknet drops 1/(w^2+h^2): dw += alpha 8/pi^2 diff h_p, dh += -alpha 8/pi^2 diff w_p.
    diff = math.atan(0.4 / 0.3) - math.atan(1.0)
    v = 4 / math.pi ** 2 * diff ** 2
    alpha = v / (1 - 1 / 3 + v + 1e-6)
    ar = 8 / math.pi ** 2 * diff * 0.2
    got = dn([0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.4, 0.3], "ciou")
    assert got == pytest.approx([0, 0, 10 / 3 + alpha * ar, 10 / 3 - alpha * ar], rel=1e-6)


def test_dx_box_iou_diou_sign_quirk_when_pred_defines_enclosing_box():
    # pred (0.5,0.5,0.4,0.2) sticks out of truth (0.55,0.5,0.2,0.4) on the left only:
    # pred l,r = .3,.7; truth l,r = .45,.65 -> pred defines both left and right (dCw/dx = 1-1 = 0).
    # Shift to pred (0.45,...): l,r = .25,.65 vs truth .45,.65: left from pred (dCl/dx=1),
    # right: pred_r .65 > truth_r .65 is False -> dCw/dx = 0 - 1 = -1.
    # Darknet's x term: (2(tx-px) C - 2 Cw dCw/dx S) / C^2 (analytic has + here).
    p, t = [0.45, 0.5, 0.4, 0.2], [0.55, 0.5, 0.2, 0.4]
    cw, ch = 0.65 - 0.25, 0.7 - 0.3
    C, S = cw ** 2 + ch ** 2, 0.1 ** 2
    darknet_x = (2 * 0.1 * C - 2 * cw * (-1) * S) / C ** 2
    iou_x = dn(p, t, "iou")[0]
    assert dn(p, t, "diou")[0] == pytest.approx(iou_x + darknet_x, rel=1e-9)
    analytic_x = (2 * 0.1 * C + 2 * cw * (-1) * S) / C ** 2
    assert darknet_x != pytest.approx(analytic_x)


def _autograd(pred, truth, kind):
    p = pred.clone().requires_grad_(True)
    s = bbox_similarity(box_convert(p, "cxcywh", "xyxy"), box_convert(truth, "cxcywh", "xyxy"),
                        kind, eps=1e-15)
    s.sum().backward()
    return p.grad


def test_dx_box_iou_matches_autograd_with_darknet_factors():
    # Oracle: autograd of the analytic similarities (yolov4.ops.boxes) on random preds strictly
    # inside their truths (enclosing box = truth, so the DIoU sign quirk does not apply).
    # Darknet = analytic for x/y; 2x analytic IoU part for w/h; the distance part 1x;
    # CIoU's aspect part is the analytic one times (w^2 + h^2).
    g = torch.Generator().manual_seed(0)
    n = 64
    truth = torch.cat((0.3 + 0.4 * torch.rand(n, 2, generator=g, dtype=torch.float64),
                       0.3 + 0.3 * torch.rand(n, 2, generator=g, dtype=torch.float64)), -1)
    frac = 0.2 + 0.5 * torch.rand(n, 2, generator=g, dtype=torch.float64)
    wh = truth[:, 2:] * frac
    room = (truth[:, 2:] - wh) / 2 * 0.9
    ctr = truth[:, :2] + room * (2 * torch.rand(n, 2, generator=g, dtype=torch.float64) - 1)
    pred = torch.cat((ctr, wh), -1)
    g_iou = _autograd(pred, truth, "iou")
    g_giou = _autograd(pred, truth, "giou")
    g_diou = _autograd(pred, truth, "diou")
    g_ciou = _autograd(pred, truth, "ciou")
    two = torch.tensor([1.0, 1.0, 2.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(dx_box_iou(pred, truth, "iou"), g_iou * two)
    torch.testing.assert_close(dx_box_iou(pred, truth, "giou"), g_giou * two)
    exp_diou = g_iou * two + (g_diou - g_iou)
    torch.testing.assert_close(dx_box_iou(pred, truth, "diou"), exp_diou)
    scale = torch.ones(n, 4, dtype=torch.float64)
    scale[:, 2:] = (pred[:, 2] ** 2 + pred[:, 3] ** 2)[:, None]
    exp_ciou = exp_diou + (g_ciou - g_diou) * scale
    torch.testing.assert_close(dx_box_iou(pred, truth, "ciou"), exp_ciou, rtol=1e-5, atol=1e-7)


def test_dx_box_iou_no_overlap_keeps_only_penalty():
    # Disjoint: pred (0.2,0.5,0.1,0.1), truth (0.6,0.5,0.1,0.1). DIoU: only the distance term:
    # pred l=.15 < truth l=.55 -> dCl/dx = 1; pred r=.25 > truth r=.65? no -> dCw/dx = -1.
    # Cw = .65-.15 = .5, Ch = .1, C = .26, S = .16.
    # dx = (2(.6-.2)C - 2 Cw (-1) S)/C^2; dw = 2 Cw dCw/dw S / C^2 with dCw/dw = 0 - (-.5) = .5.
    C, S, cw = 0.26, 0.16, 0.5
    got = dn([0.2, 0.5, 0.1, 0.1], [0.6, 0.5, 0.1, 0.1], "diou")
    assert got == pytest.approx([(2 * 0.4 * C + 2 * cw * S) / C ** 2, 0.0,
                                 2 * cw * 0.5 * S / C ** 2, 0.0], rel=1e-9, abs=1e-12)
