"""Darknet lr policies against hand-worked values of get_current_rate (src/network.c)."""
from __future__ import annotations

import math

import pytest

from yolov4.engine.lr_policy import LRPolicy, apply_lr
from yolov4.errors import YoloError


def test_burn_in_then_steps_yolov4_cfg():
    # yolov4.cfg: learning_rate=0.0013 burn_in=1000 max_batches=500500 policy=steps
    # steps=400000,450000 scales=.1,.1 (power defaults to 4)
    p = LRPolicy.from_config(dict(learning_rate=0.0013, burn_in=1000, max_batches=500500,
                                  policy="steps", steps="400000,450000", scales=".1,.1"))
    assert p.rate(0) == 0.0
    assert p.rate(500) == pytest.approx(0.0013 * 0.5 ** 4)          # (500/1000)^4 = 1/16
    assert p.rate(100) == pytest.approx(0.0013 * 1e-4)               # (0.1)^4
    assert p.rate(1000) == pytest.approx(0.0013)                      # burn-in over
    assert p.rate(399999) == pytest.approx(0.0013)
    assert p.rate(400000) == pytest.approx(0.00013)                   # steps[i] <= k applies
    assert p.rate(449999) == pytest.approx(0.00013)
    assert p.rate(450000) == pytest.approx(0.000013)


def test_step_exp_sigmoid_poly():
    # step: 0.1 * 0.5^(25 // 10) = 0.1 * 0.25
    assert LRPolicy(0.1, "step", step=10, scale=0.5).rate(25) == pytest.approx(0.025)
    assert LRPolicy(0.1, "step", step=10, scale=0.5).rate(9) == pytest.approx(0.1)
    # exp: 0.1 * 0.9^2
    assert LRPolicy(0.1, "exp", gamma=0.9).rate(2) == pytest.approx(0.081)
    # sigmoid: 0.1 / (1 + e^(1*(10-10))) = 0.05 ; at k=12: 0.1/(1+e^2)
    assert LRPolicy(0.1, "sigmoid", gamma=1.0, step=10).rate(10) == pytest.approx(0.05)
    assert LRPolicy(0.1, "sigmoid", gamma=1.0, step=10).rate(12) == pytest.approx(0.1 / (1 + math.e ** 2))
    # poly (power default 4): 0.1 * (1 - 50/100)^4 = 0.00625
    assert LRPolicy(0.1, "poly", max_batches=100).rate(50) == pytest.approx(0.00625)
    # poly with power=1 and burn_in=10: burn-in 0.1*(5/10)^1, later 0.1*(1-20/100)
    p = LRPolicy(0.1, "poly", max_batches=100, power=1.0, burn_in=10)
    assert p.rate(5) == pytest.approx(0.05)
    assert p.rate(20) == pytest.approx(0.08)
    assert LRPolicy(0.1, "constant", burn_in=4, power=2).rate(2) == pytest.approx(0.025)


def test_sgdr_cycles():
    # lr=0.1 lr_min=0 cycle=10 mult=2: cycles [0,10], (10,30], (30,70] ...
    p = LRPolicy(0.1, "sgdr", learning_rate_min=0.0, sgdr_cycle=10, sgdr_mult=2)
    assert p.rate(0) == pytest.approx(0.1)
    assert p.rate(5) == pytest.approx(0.05)                      # cos(pi/2) = 0
    assert p.rate(10) == pytest.approx(0.0, abs=1e-9)            # 10 < 10 is false: still cycle 1
    assert p.rate(11) == pytest.approx(0.05 * (1 + math.cos(math.pi / 20)))   # restart, cycle 20
    assert p.rate(20) == pytest.approx(0.05)                     # (20-10)/20 = 1/2
    assert p.rate(31) == pytest.approx(0.05 * (1 + math.cos(math.pi / 40)))   # cycle 40 from 30
    # default learning_rate_min 1e-5, default cycle = max_batches
    q = LRPolicy(0.01, "sgdr", max_batches=100)
    assert q.rate(50) == pytest.approx(1e-5 + 0.5 * (0.01 - 1e-5))
    # burn-in precedes sgdr
    r = LRPolicy(0.01, "sgdr", max_batches=100, burn_in=10, power=4)
    assert r.rate(5) == pytest.approx(0.01 / 16)


def test_random_policy_is_resumable():
    a = LRPolicy(0.1, "random", seed=3)
    a.rate(1)
    state = a.state_dict()
    expected = [a.rate(k) for k in range(2, 5)]
    b = LRPolicy(0.1, "random", seed=99)
    b.load_state_dict({"rng": [state["rng"][0], list(state["rng"][1]), state["rng"][2]]})
    assert [b.rate(k) for k in range(2, 5)] == expected
    assert all(0 <= v <= 0.1 for v in expected)


def test_bad_policies_raise():
    with pytest.raises(YoloError, match="unknown lr policy"):
        LRPolicy(0.1, "cosine")
    with pytest.raises(YoloError, match="needs both"):
        LRPolicy(0.1, "steps", steps=[10])
    with pytest.raises(YoloError, match="2 steps but 1 scales"):
        LRPolicy(0.1, "steps", steps=[10, 20], scales=[0.1])


def test_apply_lr_uses_group_scale():
    import torch
    w = torch.nn.Parameter(torch.zeros(1))
    v = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [w], "lr_scale": 1.0}, {"params": [v], "lr_scale": 0.1}], lr=1.0)
    apply_lr(opt, 0.5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.05])
