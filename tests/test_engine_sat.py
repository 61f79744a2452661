"""Self-adversarial training: the first pass alters the image to hide objects (Darknet §4.7)."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train_helpers import SquaresDataset, tiny_cfg  # noqa: E402

from yolov4.darknet.graph import Darknet  # noqa: E402
from yolov4.engine.adversarial import (adversarial_images, adversarial_lr_at,  # noqa: E402
                                       should_attack)
from yolov4.loss import YoloLoss  # noqa: E402


def _net_and_images(tmp_path):
    torch.manual_seed(0)
    net = Darknet.from_cfg(tiny_cfg(tmp_path / "t.cfg"))
    net.train()
    ds = SquaresDataset(2)
    x = torch.stack([torch.from_numpy(s.image).permute(2, 0, 1).float() / 255 for s in ds.samples])
    # give the network confident detections everywhere so the adversarial delta is non-zero
    with torch.no_grad():
        bias = net.layers[-2].conv.bias.view(3, 7)          # 3 anchors x (x, y, w, h, obj, c0, c1)
        bias.zero_()
        bias[:, 4:] = 3.0                                    # objectness and classes ~0.95
    return net, x


def test_adversarial_step_hides_objects_and_touches_no_weights(tmp_path):
    net, x = _net_and_images(tmp_path)
    loss = YoloLoss(net)
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    stats = (bn.running_mean.clone(), bn.running_var.clone())
    x_adv = adversarial_images(net, x, loss.adversarial, lr_adv=0.5)
    # no weight gradient, BN statistics untouched (BN is a fixed affine map in this pass)
    assert all(p.grad is None for p in net.parameters())
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert net.training and bn.training                      # modes restored
    assert x_adv.min() >= 0 and x_adv.max() <= 1 and not torch.equal(x_adv, x)
    # independent oracle: x - lr * d(adversarial)/dx with BN in eval mode, computed by hand
    xr = x.clone().requires_grad_(True)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    out = net(xr)
    loss.adversarial(out, (64, 64)).backward()
    net.zero_grad(set_to_none=True)
    expected = (x - 0.5 * xr.grad).clamp(0, 1)
    net.train()
    torch.testing.assert_close(x_adv, expected, rtol=1e-5, atol=1e-6)

    # defining behaviour: the altered image shows the network fewer objects
    net.eval()
    with torch.no_grad():
        obj_before = torch.cat([o[..., 4].flatten() for o in net(x)]).sum()
        obj_after = torch.cat([o[..., 4].flatten() for o in net(x_adv)]).sum()
    assert obj_after < obj_before


def test_gate_and_ramp_as_darknet():
    rng = random.Random(0)
    assert not should_attack(0.0, 100, 10, rng)                 # off
    assert not should_attack(0.05, 10, 10, rng)                 # only when iteration > burn_in
    hits = sum(should_attack(0.05, 11, 10, rng) for _ in range(2000))
    assert 900 < hits < 1100                                    # a fair coin per mini-batch
    assert adversarial_lr_at(0.05, 250, 1000) == 0.05 * 0.25    # adversarial_lr * it/max_batches
