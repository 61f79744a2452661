"""EMA: Darknet's ema_alpha schedule (start at max_batches/2, apply at max_batches-1000) and every-step EMA."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from yolov4.engine.ema import DarknetEMA, ModelEMA, build_ema


def _model() -> nn.Module:
    m = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.BatchNorm2d(1))
    return m


def _set(m: nn.Module, v: float) -> None:
    with torch.no_grad():
        m[0].weight.fill_(v)


def test_darknet_schedule_hand_worked():
    m = _model()
    ema = DarknetEMA(m, alpha=0.5, max_batches=2010)   # start 1005, apply point 1010
    events = {}
    for it in range(1, 1012):
        _set(m, float(it))                             # "the optimiser made w = it"
        m[1].running_mean.fill_(-float(it))
        e = ema.after_update(it)
        if e:
            events[it] = e
        if it == 1009:
            # s1005 = 1005 (copy), s1006 = .5*1005+.5*1006 = 1005.5, s1007 = 1006.25,
            # s1008 = 1007.125, s1009 = 1008.0625
            assert ema.shadow["0.weight"].item() == pytest.approx(1008.0625)
            assert ema.ema_state_dict()["1.running_mean"].item() == -1009.0   # live buffers
        if it == 1010:
            # apply: live weight overwritten by the EMA (not updated with w=1010 first)
            assert m[0].weight.item() == pytest.approx(1008.0625)
    assert events[1005] == "init" and events[1010] == "apply" and events[1006] == "update"
    assert 1004 not in events and 1011 not in events                 # nothing after apply point
    assert m[0].weight.item() == 1011.0                               # training continues normally
    assert "1.running_mean" not in ema.shadow                         # only parameters averaged


def test_every_step_ema_hand_worked_and_resume():
    m = _model()
    _set(m, 0.0)
    ema = ModelEMA(m, alpha=0.5, ramp=0)
    for it, v in enumerate([1.0, 2.0], start=1):
        _set(m, v)
        m[1].running_var.fill_(v + 10)
        ema.after_update(it)
    # 0.5*0 + 0.5*1 = 0.5 ; 0.5*0.5 + 0.5*2 = 1.25 ; buffers copied
    assert ema.ema[0].weight.item() == pytest.approx(1.25)
    assert ema.ema[1].running_var.item() == 12.0
    other = ModelEMA(_model(), alpha=0.5, ramp=0)
    other.load_state_dict(ema.state_dict())
    assert other.ema[0].weight.item() == pytest.approx(1.25) and other.updates == 2
    # ramp: decay = alpha * (1 - exp(-updates/ramp)) starts near 0 (fast tracking)
    assert ModelEMA(m, alpha=0.9999, ramp=2000).decay() == 0.0


def test_build_ema_switch():
    m = _model()
    assert build_ema(m, {"ema_alpha": 0}) is None
    assert isinstance(build_ema(m, {"ema_alpha": 0.9998, "max_batches": 4000}), DarknetEMA)
    assert isinstance(build_ema(m, {"ema_alpha": 0.9998, "ema_mode": "every_step"}), ModelEMA)
