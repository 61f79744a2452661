"""The optimiser's update equals Darknet's rule (update_convolutional_layer), written out in numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from yolov4.engine.lr_policy import apply_lr
from yolov4.engine.optim import build_optimizer, param_groups


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.LeakyReLU(0.1),
        nn.Conv2d(4, 2, 1, bias=True),
    )


def _summed_grads(net, x):
    """Gradient of the loss summed over the images of x (Darknet's accumulated -delta)."""
    net.zero_grad()
    (net(x) ** 2).sum().backward()
    return {n: p.grad.detach().numpy().copy() for n, p in net.named_parameters()}


def test_decay_only_on_conv_weights():
    groups = param_groups(_net(), decay=5e-4)
    decayed = [p.shape for g in groups if g["weight_decay"] > 0 for p in g["params"]]
    plain = [p.shape for g in groups if g["weight_decay"] == 0 for p in g["params"]]
    assert decayed == [torch.Size([4, 3, 3, 3]), torch.Size([2, 4, 1, 1])]
    assert sorted(map(tuple, plain)) == [(2,), (4,), (4,)]     # conv bias, BN weight, BN bias


@pytest.mark.parametrize("subdivisions", [1, 2])
def test_sgd_update_equals_darknet(subdivisions):
    batch, lr, momentum, decay = 4, 0.01, 0.949, 0.0005
    torch.manual_seed(1)
    data = [torch.rand(batch, 3, 6, 6) for _ in range(3)]
    mini = batch // subdivisions
    conv_w = {"0.weight", "3.weight"}

    # --- oracle: Darknet's U/W bookkeeping in numpy, gradients of the summed loss per mini-batch
    ref = _net()
    W = {n: p.detach().numpy().copy() for n, p in ref.named_parameters()}
    U = {n: np.zeros_like(w) for n, w in W.items()}
    for x in data:
        for s in range(subdivisions):
            g = _summed_grads(ref, x[s * mini:(s + 1) * mini])
            for n in U:
                U[n] += -g[n]                       # delta is the negative gradient
        for n in W:
            if n in conv_w:
                U[n] += -decay * batch * W[n]
            W[n] = W[n] + lr / batch * U[n]
            U[n] *= momentum
        with torch.no_grad():
            for n, p in ref.named_parameters():
                p.copy_(torch.from_numpy(W[n]))

    # --- engine: loss summed over the mini-batch / cfg batch, accumulated, one step
    net = _net()
    opt = build_optimizer(net, dict(learning_rate=lr, momentum=momentum, decay=decay, batch=batch))
    for x in data:
        apply_lr(opt, lr)
        opt.zero_grad()
        for s in range(subdivisions):
            ((net(x[s * mini:(s + 1) * mini]) ** 2).sum() / batch).backward()
        opt.step()
    for n, p in net.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), W[n], rtol=1e-4, atol=1e-6, err_msg=n)


def test_per_layer_lr_scale_and_adam():
    net = _net()
    net[3].lr_scale = 0.1          # Darknet's per-layer learning_rate= on the last conv
    opt = build_optimizer(net, dict(learning_rate=0.1, decay=0.0))
    apply_lr(opt, 0.1)
    before = net[3].bias.detach().clone()
    before0 = net[1].bias.detach().clone()
    opt.zero_grad()
    net[3].bias.grad = torch.ones(2)
    net[1].bias.grad = torch.ones(4)
    opt.step()
    assert torch.allclose(before - net[3].bias.detach(), torch.full((2,), 0.01))
    assert torch.allclose(before0 - net[1].bias.detach(), torch.full((4,), 0.1))
    adam = build_optimizer(net, dict(learning_rate=0.1, adam=1, batch=64, eps=1e-6))
    assert isinstance(adam, torch.optim.Adam)
    assert adam.defaults["eps"] == pytest.approx(1e-6 / 64)


def test_cfg_per_layer_learning_rate_reaches_the_param_groups():
    """Darknet's per-layer `learning_rate=` (l.learning_rate_scale) scales that layer's lr."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from test_train_helpers import TINY_CFG

    from yolov4.darknet.cfg import parse_cfg_text
    from yolov4.darknet.graph import Darknet
    text = TINY_CFG.format(batch=4, subdivisions=1, lr=0.01, flip=0, bn=1, jitter=0, random=0,
                           iou_loss="mse", iou_normalizer=1, dropout="")
    text = text.replace("filters=21\nactivation=linear", "filters=21\nactivation=linear\nlearning_rate=0.1")
    net = Darknet.from_cfg(parse_cfg_text(text))
    opt = build_optimizer(net, dict(learning_rate=0.01))
    apply_lr(opt, 0.01)
    head = {id(p) for p in net.layers[-2].parameters()}
    for g in opt.param_groups:
        in_head = {id(p) in head for p in g["params"]}
        assert len(in_head) == 1
        assert g["lr"] == pytest.approx(0.001 if in_head.pop() else 0.01)
