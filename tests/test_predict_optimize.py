"""Inference optimisations equal the plain network: fast Mish against ``F.mish`` (float64
oracle), and an optimised Detector against the plain one."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from yolov4.darknet.cfg import parse_cfg_text
from yolov4.darknet.graph import Darknet
import pytest

from yolov4.runtime.mish import FastMish, compiled_mish, fast_mish, replace_mish
from yolov4.runtime.optimize import optimize_for_inference
from yolov4.runtime.packed import PackedConv2d, packing_available
from yolov4.predict import Detector
from test_predict import TINY_CFG


def test_fast_mish_matches_float64_mish():
    x = torch.linspace(-120, 120, 48001)
    ref = F.mish(x.double())
    got = fast_mish(x).double()
    assert (got - ref).abs().max() <= 2e-6
    small = x.abs() < 30  # relative accuracy where mish is not ~0
    rel = ((got - ref).abs() / ref.abs().clamp(min=1e-30))[small & (ref.abs() > 1e-20)]
    assert rel.max() <= 1e-5
    assert torch.isfinite(fast_mish(torch.tensor([-1e30, 1e30, 0.0]))).all()


def test_compiled_mish_matches_float64_mish():
    fn = compiled_mish()
    if fn is None:
        pytest.skip("torch.compile is not available here (the eager form is used)")
    x = torch.linspace(-120, 120, 48001).view(1, 1, 1, -1)
    ref = F.mish(x.double())
    with torch.no_grad():
        got = fn(x).double()
        assert (got - ref).abs().max() <= 4e-6
        small = (x.abs() < 30) & (ref.abs() > 1e-20)
        assert (((got - ref).abs() / ref.abs().clamp(min=1e-30))[small]).max() <= 1e-5
        xc = torch.randn(1, 6, 5, 7).contiguous(memory_format=torch.channels_last)
        yc = fn(xc)  # channels-last in, channels-last out, same values
        assert yc.is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(yc, F.mish(xc), atol=4e-6)
        xb = x.to(torch.bfloat16)  # bf16: within bf16 rounding of the exact Mish
        assert (fn(xb).double() - F.mish(xb.double())).abs().max() <= 0.5 + 1e-3
        assert ((fn(xb).double() - F.mish(xb.double())).abs() / F.mish(xb.double()).abs()
                .clamp(min=1e-3))[small].max() <= 1e-2
    m = FastMish(compiled=True)
    with torch.no_grad():
        assert torch.allclose(m(xc), F.mish(xc), atol=4e-6)
    xg = xc.clone().requires_grad_()  # with autograd the eager form runs (no compiled graph)
    assert torch.allclose(m(xg), F.mish(xc), atol=4e-6)


@pytest.mark.parametrize("act", ["mish", "leaky", "logistic"])
def test_optimized_network_matches_plain(act):
    cfg = TINY_CFG.replace("activation=leaky", f"activation={act}")
    torch.manual_seed(0)
    net = Darknet.from_cfg(parse_cfg_text(cfg)).eval().fuse()
    opt = Darknet.from_cfg(parse_cfg_text(cfg)).eval().fuse()
    opt.load_state_dict(net.state_dict())
    x = torch.rand(2, 3, 64, 96)
    optimize_for_inference(opt, x[:1], winograd=True)
    assert not any(type(m).__name__ == "Activation" and m.name == "mish" for m in opt.modules())
    assert any(isinstance(m, FastMish) for m in opt.modules()) == (act == "mish")
    if packing_available():
        assert sum(isinstance(m, PackedConv2d) for m in opt.modules()) == 2
    with torch.no_grad():
        for a, b in zip(net(x), opt(x.contiguous(memory_format=torch.channels_last))):
            assert torch.allclose(a, b, atol=1e-5)
        for a, b in zip(net(x[:, :, :32]), opt(x[:, :, :32])):  # other size, NCHW input
            assert torch.allclose(a, b, atol=1e-5)
    assert replace_mish(opt) == 0


def test_optimized_detector_same_detections(tmp_path):
    cfg = tmp_path / "t.cfg"
    cfg.write_text(TINY_CFG.replace("activation=leaky", "activation=mish"))
    torch.manual_seed(0)
    a = Detector(str(cfg), conf=0.05)
    torch.manual_seed(0)  # same random weights
    b = Detector(str(cfg), conf=0.05, optimize=True)
    im = np.random.default_rng(0).integers(0, 256, (40, 70, 3), dtype=np.uint8)
    ra, rb = a.predict(im)[0], b.predict(im)[0]
    assert ra.class_ids.tolist() == rb.class_ids.tolist()
    assert torch.allclose(ra.boxes, rb.boxes, atol=1e-3)


def test_optimized_detector_on_real_weights(shared_darknet):
    cfg = shared_darknet / "weights" / "yolov4-tiny.cfg"
    w = cfg.with_suffix(".weights")
    img = str(shared_darknet / "images" / "dog.jpg")
    plain = Detector(str(cfg), str(w)).predict(img)[0]
    fast = Detector(str(cfg), str(w), optimize=True).predict(img)[0]
    assert fast.labels == plain.labels
    assert torch.allclose(fast.boxes, plain.boxes, atol=1e-2)
    assert torch.allclose(fast.scores, plain.scores, atol=1e-5)


BF16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()


@pytest.mark.skipif(BF16, reason="this CPU runs oneDNN bf16")
def test_bf16_without_cpu_support_says_so(shared_darknet):
    from yolov4.errors import YoloError
    cfg = shared_darknet / "weights" / "yolov4-tiny.cfg"
    with pytest.raises(YoloError, match="bf16 inference on this CPU is not supported"):
        Detector(str(cfg), str(cfg.with_suffix(".weights")), optimize=True, bf16=True)


@pytest.mark.skipif(not BF16, reason="oneDNN bf16 needs AVX512-BF16/AVX-NE-CONVERT/AVX512BW")
def test_bf16_detector_agrees_with_fp32(shared_darknet):
    cfg = shared_darknet / "weights" / "yolov4-tiny.cfg"
    w = cfg.with_suffix(".weights")
    img = str(shared_darknet / "images" / "dog.jpg")
    plain = Detector(str(cfg), str(w)).predict(img)[0]
    half = Detector(str(cfg), str(w), optimize=True, bf16=True).predict(img)[0]
    assert half.boxes.dtype == torch.float32
    assert sorted(half.labels) == sorted(plain.labels)
    for lab, box, score in zip(plain.labels, plain.boxes, plain.scores):
        k = half.labels.index(lab)  # dog.jpg: one box per class
        assert (half.boxes[k] - box).abs().max() < 8 and abs(half.scores[k] - score) < 0.05


def test_upsample_keeps_channels_last():
    from yolov4.layers.upsample import Upsample

    x = torch.randn(2, 5, 3, 4)
    ref = Upsample(2)(x)
    got = Upsample(2)(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(got, ref)
    assert got.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(not __import__("yolov4.runtime.winograd_native", fromlist=["x"]).available(),
                    reason="native Winograd not built")
def test_inplace_routes_same_outputs(shared_darknet):
    """Winograd convs writing into their route's concatenation: bit-identical to the same
    network concatenating, and within fp32 rounding of the plain network."""
    from yolov4.runtime.winograd_tune import winograd_autotune
    from yolov4.runtime.routes import plan_inplace_routes

    cfg = shared_darknet / "weights" / "yolov4-tiny.cfg"
    plain = Darknet.from_cfg(str(cfg))
    plain.load_weights(str(cfg.with_suffix(".weights")))
    plain.eval().fuse()
    net = Darknet.from_cfg(str(cfg))
    net.load_weights(str(cfg.with_suffix(".weights")))
    net.eval().fuse().to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 128, 160).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert winograd_autotune(net, x, runs=1, margins=(math.inf,)) == 12  # every stride-1 3x3
        n = plan_inplace_routes(net)
        # routes 6, 14, 22 are fed by two Winograd convs each; 8, 16, 24 by one
        assert n == 9 and net.route_targets[4] == (6, 32, 64)
        planned = net(x)
        targets, net.route_targets = net.route_targets, {}
        concatenated = net(x)
        net.route_targets = targets
        ref = plain(x.contiguous())
    for a, b, r in zip(planned, concatenated, ref):
        assert torch.equal(a, b)
        assert (a - r).abs().max() < 1e-4
    net.train()  # train mode ignores the plan
    with torch.no_grad():
        assert [t.shape[-1] for t in net(x)] == [85, 85]
