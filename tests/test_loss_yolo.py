"""YoloLoss: gradients equal Darknet's hand-derived deltas (box MSE/IoU, objectness, label
smoothing, focal loss, max_delta, new_coords, SAT pass), reductions, settings, and an overfit run."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from yolov4.darknet.cfg import make_section
from yolov4.errors import CfgError
from yolov4.loss import LayerSpec, YoloLoss, dx_box_iou


# tiny tensors: one intra-op thread for the module (conftest.one_thread)
pytestmark = pytest.mark.usefixtures("one_thread")


ANCHORS = [[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319]]
NET = (128, 128)
TRUTH = torch.tensor([[0, 1, 10, 44, 90, 124]], dtype=torch.float32)  # 80x80, centre (50, 84)
SLOT = (0, 0, 2, 1)  # image 0, mask slot 0 (anchor 81x82), row 2, column 1


def sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def run(z, targets=TRUTH, **kw):
    kw.setdefault("iou_loss", "mse")
    loss = YoloLoss(specs=[LayerSpec(anchors=ANCHORS, mask=[3, 4, 5], classes=2, **kw)])
    z = z.clone().requires_grad_(True)
    total, parts = loss([z], targets, NET)
    total.backward()
    return z.grad, total, parts, loss


def test_mse_box_objectness_and_class_deltas_by_hand():
    z = torch.zeros(1, 3, 4, 4, 7)
    z[SLOT][0], z[SLOT][2], z[SLOT][4] = 1.0, 0.2, 0.5
    g, total, parts, _ = run(z, scale_x_y=1.2, obj_normalizer=2.0)
    d = (-g[SLOT]).tolist()
    # scale = 2 − w·h = 2 − (80/128)^2, times iou_normalizer .75 (Darknet default)
    sc = (2 - (80 / 128) ** 2) * 0.75
    # x: target 50/32 − 1 = .5625, output σ(1)·1.2 − 0.5·(1.2 − 1); y: .625 vs σ(0)·1.2 − .1 = .5
    assert d[0] == pytest.approx(sc * (0.5625 - (sig(1.0) * 1.2 - 0.1)), rel=1e-5)
    assert d[1] == pytest.approx(sc * (84 / 32 - 2 - 0.5), rel=1e-5)
    # w, h: targets ln(80/81), ln(80/82) against the raw outputs .2 and 0
    assert d[2] == pytest.approx(sc * (math.log(80 / 81) - 0.2), rel=1e-5)
    assert d[3] == pytest.approx(sc * math.log(80 / 82), rel=1e-5)
    # objectness: obj_normalizer·(1 − σ(.5)); classes onehot(1) − σ(0)
    assert d[4] == pytest.approx(2.0 * (1 - sig(0.5)), rel=1e-5)
    assert d[5:] == pytest.approx([-0.5, 0.5])
    # every other prediction is a negative (no class > .25 is false here: σ(0) = .5, but their
    # IoU with the truth is < .5): gradient obj_norm·σ(0) = 1, nothing else
    other = g.clone()
    other[SLOT] = 0
    assert torch.allclose(other[..., 4][other[..., 4] != 0], torch.tensor(1.0))
    assert other[..., :4].abs().sum() == 0 and other[..., 5:].abs().sum() == 0
    # logging values: obj = Σ w·BCE; every negative contributes 2·ln 2
    n_neg = 3 * 16 - 1
    assert parts["obj"] == pytest.approx(n_neg * 2 * math.log(2) + 2 * -math.log(sig(0.5)),
                                         rel=1e-5)
    assert parts["cls"] == pytest.approx(2 * math.log(2), rel=1e-5)
    assert float(total.detach()) == pytest.approx(parts["box"] + parts["obj"] + parts["cls"], rel=1e-6)


def test_iou_loss_delta_wiring():
    # CIoU: δ = dx_box_iou(pred, truth)·(1, 1, e^{z_w}, e^{z_h})·iou_normalizer (no other factor)
    z = torch.zeros(1, 3, 4, 4, 7)
    z[SLOT][0], z[SLOT][2], z[SLOT][3] = 0.4, 0.3, -0.2
    g, _, parts, _ = run(z, iou_loss="ciou", iou_normalizer=0.07, scale_x_y=1.05)
    ox = sig(0.4) * 1.05 - 0.025
    pred = torch.tensor([[(1 + ox) / 4, (2 + 0.5) / 4, math.exp(0.3) * 81 / 128,
                          math.exp(-0.2) * 82 / 128]], dtype=torch.float64)
    truth = torch.tensor([[50 / 128, 84 / 128, 80 / 128, 80 / 128]], dtype=torch.float64)
    exp = dx_box_iou(pred, truth, "ciou")[0] * torch.tensor(
        [1, 1, math.exp(0.3), math.exp(-0.2)], dtype=torch.float64) * 0.07
    assert (-g[SLOT][:4]).tolist() == pytest.approx(exp.tolist(), rel=1e-4, abs=1e-7)
    assert parts["box"] > 0


def test_max_delta_clips_iou_deltas():
    z = torch.zeros(1, 3, 4, 4, 7)
    z[SLOT][2] = -1.5  # a small prediction -> large GIoU gradient
    g, _, _, _ = run(z, iou_loss="giou", iou_normalizer=1.0)
    assert g[SLOT][:4].abs().max() > 0.5
    g, _, _, _ = run(z, iou_loss="giou", iou_normalizer=1.0, max_delta=0.5)
    assert g[SLOT][:4].abs().max() == pytest.approx(0.5)


def test_label_smoothing():
    # Darknet: y = onehot·(1 − ε) + 0.5·ε: ε = .1 -> .95 / .05; σ(0) = .5 -> δ = .45 / −.45
    g, _, _, _ = run(torch.zeros(1, 3, 4, 4, 7), label_smooth_eps=0.1)
    assert (-g[SLOT][5:]).tolist() == pytest.approx([-0.45, 0.45], rel=1e-6)


def test_focal_loss():
    # Darknet: δ_n = (onehot_n − p_n)·0.5·g, g = −(1 − pt)(2·pt·ln pt + pt − 1), pt = p_true.
    # p = σ(0) = .5: g = −.5·(ln .5 − .5) = .596574; δ_true = .5·.5·g = .149143, δ_other = −.149143
    g, _, _, _ = run(torch.zeros(1, 3, 4, 4, 7), focal_loss=True)
    gg = -0.5 * (2 * 0.5 * math.log(0.5) + 0.5 - 1)
    assert (-g[SLOT][5:]).tolist() == pytest.approx([-0.25 * gg, 0.25 * gg], rel=1e-5)
    assert 0.25 * gg == pytest.approx(0.149143, rel=1e-5)


def test_cls_normalizer_darknet_vs_all():
    z = torch.zeros(1, 3, 4, 4, 7)
    g, _, _, _ = run(z, cls_normalizer=3.0)  # Darknet: no effect without counters_per_class
    assert (-g[SLOT][5:]).tolist() == pytest.approx([-0.5, 0.5])
    g, _, _, _ = run(z, cls_normalizer=3.0, cls_normalizer_mode="all")
    assert (-g[SLOT][5:]).tolist() == pytest.approx([-1.5, 1.5])
    # counters_per_class 10, 40 -> multipliers 4, 1: true class 1 × 1 × cls_normalizer 3
    spec = LayerSpec.from_section(make_section("yolo", mask="3,4,5", num=6, classes=2,
                                               anchors=ANCHORS, counters_per_class="40,10",
                                               cls_normalizer=3))
    assert spec.class_multipliers == [1.0, 4.0]
    loss = YoloLoss(specs=[spec])
    zz = z.clone().requires_grad_(True)
    loss([zz], TRUTH, NET)[0].backward()
    d = (-zz.grad[SLOT]).tolist()
    assert d[5:] == pytest.approx([-0.5, 0.5 * 4 * 3])  # true class: mult 4 × cls_norm 3
    assert d[4] == pytest.approx(4 * 0.5)  # objectness × mult


def test_new_coords_targets():
    # new_coords: outputs are probabilities already; tw = sqrt(w·netw / (4·aw)), w raw
    z = torch.full((1, 3, 4, 4, 7), 0.5)
    g, _, _, _ = run(z, new_coords=True)
    sc = (2 - (80 / 128) ** 2) * 0.75
    assert -g[SLOT][2] == pytest.approx(sc * (math.sqrt(80 / (4 * 81)) - 0.5), rel=1e-5)
    assert -g[SLOT][0] == pytest.approx(sc * (0.5625 - 0.5), rel=1e-5)  # x not activated again
    assert -g[SLOT][4] == pytest.approx(1 - 0.5)


def test_total_is_the_sum_over_the_mini_batch():
    z1 = torch.randn(1, 3, 4, 4, 7, generator=torch.Generator().manual_seed(1))
    g1, t1, p1, _ = run(z1, iou_loss="ciou", iou_thresh=0.213)
    t2_targets = torch.cat((TRUTH, TRUTH.clone().index_fill_(1, torch.tensor([0]), 1.0)))
    g2, t2, p2, _ = run(torch.cat((z1, z1)), t2_targets, iou_loss="ciou", iou_thresh=0.213)
    assert float(t2.detach()) == pytest.approx(2 * float(t1.detach()), rel=1e-5)
    assert torch.allclose(g2[0], g1[0]) and torch.allclose(g2[1], g1[0])
    for k in ("box", "obj", "cls"):
        assert p2[k] == pytest.approx(2 * p1[k], rel=1e-5)


def test_adversarial_deltas_by_hand():
    # One cell, one anchor 16x16 in a 32x32 input; z = (0,0,0,0, 2, 3, −3):
    # obj = σ(2), p = (σ(3), σ(−3)); box w = h = 16/32 -> s = sqrt(.25) = .5.
    # class 0: p·obj = .839 > .25 -> δ = s·(0 − σ(3)); class 1: .042 < .25 -> δ = s·(1 − σ(−3));
    # δobj = s·(0 − σ(2)); found -> box δ = s·(0 − o) with o = (.5, .5, 0, 0).
    spec = LayerSpec(anchors=[[16, 16]], mask=[0], classes=2)
    loss = YoloLoss(specs=[spec])
    z = torch.tensor([0, 0, 0, 0, 2.0, 3.0, -3.0]).view(1, 1, 1, 1, 7).requires_grad_(True)
    loss.adversarial([z], (32, 32)).backward()
    exp = [-0.25, -0.25, 0, 0, -0.5 * sig(2), -0.5 * sig(3), 0.5 * (1 - sig(-3))]
    assert (-z.grad.flatten()).tolist() == pytest.approx(exp, rel=1e-6, abs=1e-8)
    # nothing found (low class probs): only objectness is pushed down
    z2 = torch.tensor([0, 0, 0, 0, 2.0, -3.0, -3.0]).view(1, 1, 1, 1, 7).requires_grad_(True)
    loss.adversarial([z2], (32, 32)).backward()
    assert (-z2.grad.flatten()).tolist() == pytest.approx([0, 0, 0, 0, -0.5 * sig(2), 0, 0])


def test_settings_from_sections_and_overrides():
    sec = make_section("yolo", mask="3,4,5", anchors=ANCHORS, classes=2, num=6, iou_loss="ciou",
                       iou_thresh=0.213, ignore_thresh=0.7, scale_x_y=1.05)
    layer = SimpleNamespace(anchors=torch.tensor(ANCHORS, dtype=torch.float32), mask=[3, 4, 5],
                            classes=2, scale_x_y=1.05, new_coords=False, section=sec)
    sec2 = make_section("yolo", mask="0,1,2", anchors=ANCHORS, classes=2, num=6)
    layer2 = SimpleNamespace(anchors=torch.tensor(ANCHORS, dtype=torch.float32), mask=[0, 1, 2],
                             classes=2, scale_x_y=1.0, new_coords=False, section=sec2)
    loss = YoloLoss(SimpleNamespace(yolo_layers=[layer, layer2]))
    s0, s1 = loss.specs
    assert (s0.iou_loss, s0.iou_thresh, s0.ignore_thresh, s0.scale_x_y) == ("ciou", 0.213, 0.7, 1.05)
    # Darknet defaults for absent keys
    assert (s1.iou_loss, s1.iou_normalizer, s1.obj_normalizer, s1.iou_thresh, s1.truth_thresh,
            s1.ignore_thresh, s1.max_delta, s1.max_boxes) == ("mse", 0.75, 1.0, 1.0, 1.0, 0.5,
                                                              math.inf, 200)
    loss = YoloLoss(SimpleNamespace(yolo_layers=[layer, layer2]), iou_normalizer=[0.07, 0.1],
                    label_smooth_eps=0.1)
    assert [s.iou_normalizer for s in loss.specs] == [0.07, 0.1]
    assert [s.label_smooth_eps for s in loss.specs] == [0.1, 0.1]
    with pytest.raises(CfgError, match="unknown loss setting"):
        YoloLoss(SimpleNamespace(yolo_layers=[layer]), iou_normaliser=0.1)
    with pytest.raises(ValueError, match="does not fit"):
        loss([torch.zeros(1, 3, 4, 4, 9), torch.zeros(1, 3, 8, 8, 7)], TRUTH, NET)


class TinyNet(nn.Module):
    """64x64 input -> 8x8 grid, 3 anchors, 2 classes; train-mode raw [B, 3, 8, 8, 7]."""

    def __init__(self):
        super().__init__()
        act = nn.LeakyReLU(0.1)
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), act, nn.Conv2d(16, 32, 3, 2, 1), act,
                                  nn.Conv2d(32, 32, 3, 2, 1), act, nn.Conv2d(32, 21, 1))

    def forward(self, x):
        y = self.body(x)
        return [y.view(x.shape[0], 3, 7, 8, 8).permute(0, 1, 3, 4, 2)]


@pytest.mark.parametrize("iou_loss,steps", [("ciou", 160), ("mse", 40)])
def test_overfit_one_small_batch(iou_loss, steps):
    # Darknet's gradients drive a tiny net: the loss halves within 40 steps, and (ciou, 160
    # steps) the best-scoring box of each truth's class overlaps it (IoU > .5, score > .5).
    from yolov4.loss.deltas import _grid_boxes, activate
    from yolov4.ops.boxes import box_convert, box_iou

    torch.manual_seed(0)
    net = TinyNet()
    spec = LayerSpec(anchors=[[8, 8], [16, 16], [32, 24]], mask=[0, 1, 2], classes=2,
                     iou_loss=iou_loss, iou_normalizer=0.07 if iou_loss == "ciou" else 0.75,
                     iou_thresh=0.213, ignore_thresh=0.7, scale_x_y=1.05)
    loss = YoloLoss(specs=[spec])
    x = torch.rand(2, 3, 64, 64)
    targets = torch.tensor([[0, 0, 4, 6, 20, 22], [0, 1, 30, 30, 60, 52], [1, 1, 10, 30, 26, 46]],
                           dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    history = []
    for _ in range(steps):
        total, parts = loss(net(x), targets, (64, 64))
        history.append(float(total.detach()))
        opt.zero_grad()
        (total / 2).backward()  # the trainer divides by the cfg batch
        opt.step()
    assert history[39] < 0.5 * history[0], history[:40]
    if steps < 100:
        return
    with torch.no_grad():
        o = activate(net(x)[0], spec)
        boxes = box_convert(_grid_boxes(o, spec, (64, 64)), "cxcywh", "xyxy") * 64
        score = o[..., 4:5] * o[..., 5:]
    for t in targets:
        b, c = int(t[0]), int(t[1])
        s = score[b, ..., c].flatten()
        k = int(s.argmax())
        assert s[k] > 0.5
        assert box_iou(boxes[b].reshape(-1, 4)[k][None], t[None, 2:])[0, 0] > 0.5


TINY_CFG = """
[net]
width=64
height=64
channels=3
batch=2
subdivisions=1

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=21
activation={act}

[yolo]
mask=0,1,2
anchors=8,8, 16,16, 32,24
classes=2
num=3
scale_x_y=1.05
new_coords={nc}
iou_loss=ciou
iou_normalizer=0.07
iou_thresh=0.213
"""


@pytest.mark.parametrize("new_coords", [0, 1])
def test_with_the_layer_graph(new_coords):
    # YoloLoss(net) reads the [yolo] sections of a real graph; the loss's own decoding of the
    # raw outputs (Darknet's get_yolo_box on l.output) agrees with YoloLayer.decode
    from yolov4.darknet.cfg import parse_cfg_text
    from yolov4.darknet.graph import Darknet
    from yolov4.loss.deltas import _grid_boxes, activate

    act = "logistic" if new_coords else "linear"
    net = Darknet.from_cfg(parse_cfg_text(TINY_CFG.replace("{act}", act).replace("{nc}", str(new_coords))))
    net.train()
    loss = YoloLoss(net)
    (spec,) = loss.specs
    assert (spec.iou_loss, spec.iou_normalizer, spec.iou_thresh, spec.scale_x_y, spec.new_coords) == \
        ("ciou", 0.07, 0.213, 1.05, bool(new_coords))
    x = torch.rand(2, 3, 64, 64)
    outs = net(x)
    assert outs[0].shape == (2, 3, 8, 8, 7)
    with torch.no_grad():
        o = activate(outs[0], spec)
        mine = torch.cat((_grid_boxes(o, spec, (64, 64)), o[..., 4:]), -1)
        theirs = net.yolo_layers[0].decode(outs[0], (64, 64))
    torch.testing.assert_close(mine, theirs)
    targets = torch.tensor([[0, 0, 4, 6, 20, 22], [1, 1, 30, 30, 60, 52]], dtype=torch.float32)
    total, parts = loss(outs, targets, (64, 64))
    total.backward()
    assert all(math.isfinite(v) for v in parts.values())
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_max_boxes_keeps_the_first_truths_of_each_image():
    # Darknet's `max`: the truth buffer holds the first `max` labels of an image
    t = torch.tensor([[0, 1, 10, 44, 90, 124], [0, 0, 70, 4, 120, 100]], dtype=torch.float32)
    g_all, _, _, _ = run(torch.zeros(1, 3, 4, 4, 7), t)
    g_one, _, _, _ = run(torch.zeros(1, 3, 4, 4, 7), t, max_boxes=1)
    g_first, _, _, _ = run(torch.zeros(1, 3, 4, 4, 7), t[:1])
    assert not torch.equal(g_all, g_one) and torch.equal(g_one, g_first)


def test_low_precision_outputs_are_computed_in_fp32():
    # AMP: bf16 outputs under autocast give the fp32 deltas (rounded to bf16 in the gradient)
    z = torch.randn(1, 3, 4, 4, 7, generator=torch.Generator().manual_seed(3))
    g32, t32, _, loss = run(z.bfloat16().float(), iou_loss="ciou")
    zb = z.bfloat16().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, parts = loss([zb], TRUTH, NET)
    total.backward()
    assert total.dtype == torch.float32 and zb.grad.dtype == torch.bfloat16
    torch.testing.assert_close(zb.grad.float(), g32, rtol=1e-2, atol=1e-2)
    assert float(total.detach()) == pytest.approx(float(t32.detach()), rel=1e-5)
