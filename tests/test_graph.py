"""The layer graph: building official cfgs, yolo decode vs get_yolo_box, train/eval, fuse, hooks."""
from __future__ import annotations

import math

import pytest
import torch

from darknet_random import small_cfg
from yolov4.darknet.cfg import parse_cfg_text, read_cfg
from yolov4.darknet.graph import Darknet
from yolov4.errors import CfgError, YoloError
from yolov4.layers.yolo import YoloLayer, decode_cells

OFFICIAL = ["yolov4.cfg", "yolov4-custom.cfg", "yolov4-tiny.cfg", "yolov4-tiny-custom.cfg",
            "yolov4-csp.cfg", "yolov4-sam-mish-csp-reorg-bfm.cfg", "yolov3.cfg",
            "yolov3-tiny.cfg", "csresnext50-panet-spp.cfg", "csdarknet53-omega.cfg"]

TINY = """
[net]
width=64
height=64
channels=3
max_batches=1000

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=2
filters=8
size=3
stride=1
pad=1
activation=mish
stopbackward=1

[dropout]
probability=0.1
dropblock=1
dropblock_size_abs=3

[route]
layers=-1,-3

[convolutional]
filters=14
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1
anchors=10,14, 23,27, 37,58
classes=2
num=3
scale_x_y=1.1
"""


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_cfgs_build_and_run(shared_darknet, tmp_path, name):
    # big graphs 8x narrower (same layers, routes and strides; weights counts are tested on the
    # real cfgs in test_weights.py) to keep CPU time small
    narrow = 1 if "tiny" in name else 8
    sections = read_cfg(small_cfg(shared_darknet / "cfg" / name, tmp_path / name, 320, None,
                                  narrow))
    net = Darknet.from_cfg(sections).eval()
    assert net.sections == sections and net.sections is not sections
    assert net.width == 320 and net.channels == 3
    size = 2 * net.stride
    with torch.no_grad():
        outs = net(torch.rand(1, 3, size, size))
    yolos = [s for s in sections if s.type == "yolo"]
    if not yolos:
        assert outs[0].shape == (1, 1000, 1, 1)
        return
    assert len(outs) == len(yolos) == len(net.yolo_layers)
    for out, layer in zip(outs, net.yolo_layers):
        assert out.shape[:2] == (1, len(layer.mask)) and out.shape[-1] == 5 + layer.classes
        assert size % out.shape[2] == 0


def test_classes_rewrite_heads(shared_darknet):
    net = Darknet.from_cfg(shared_darknet / "cfg" / "yolov4-tiny.cfg", classes=3)
    for i in net.yolo_indices:
        assert net.sections[1 + i].get_int("classes") == 3
        assert net.sections[i].get_int("filters") == 3 * 8  # the conv feeding it
    with torch.no_grad():
        outs = net.eval()(torch.rand(1, 3, 64, 96))  # non-square input, multiple of 32
    assert [tuple(o.shape) for o in outs] == [(1, 3, 2, 3, 8), (1, 3, 4, 6, 8)]


def test_only_referenced_outputs_are_kept(shared_darknet):
    text = (shared_darknet / "cfg" / "yolov4-tiny.cfg").read_text()
    net = Darknet.from_cfg(shared_darknet / "cfg" / "yolov4-tiny.cfg")
    # referenced layers, read off the cfg text: route layers=... and shortcut from=...
    referenced, index = set(), -1
    for line in text.splitlines():
        line = line.replace(" ", "")
        if line.startswith("[") and line != "[net]":
            index += 1
        if line.startswith(("layers=", "from=")):
            for v in line.split("=")[1].split(","):
                referenced.add(index + int(v) if int(v) < 0 else int(v))
    assert [i for i, k in enumerate(net._keep) if k] == sorted(referenced)


def _get_yolo_box_reference(raw, i, j, n, anchors, mask, lw, lh, netw, neth, s, new_coords):
    """``src/yolo_layer.c: forward_yolo_layer`` activation + ``get_yolo_box`` for one cell."""
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    tx, ty, tw, th = (float(v) for v in raw[:4])
    if not new_coords:
        tx, ty = sig(tx), sig(ty)
    tx, ty = tx * s - 0.5 * (s - 1), ty * s - 0.5 * (s - 1)
    aw, ah = anchors[2 * mask[n]], anchors[2 * mask[n] + 1]
    if new_coords:
        w, h = tw * tw * 4 * aw / netw, th * th * 4 * ah / neth
    else:
        w, h = math.exp(tw) * aw / netw, math.exp(th) * ah / neth
    rest = [float(v) if new_coords else sig(float(v)) for v in raw[4:]]
    return [(i + tx) / lw, (j + ty) / lh, w, h] + rest


@pytest.mark.parametrize("new_coords,scale", [(0, 1.0), (0, 1.2), (1, 2.0)])
def test_decode_matches_get_yolo_box(new_coords, scale):
    anchors = [12, 16, 19, 36, 40, 28, 36, 75]
    mask = [1, 3]
    layer = YoloLayer(anchors, mask, classes=2, scale_x_y=scale, new_coords=new_coords)
    torch.manual_seed(0)
    x = torch.randn(2, 2 * 7, 3, 5) * (0.3 if new_coords else 1.5)
    if new_coords:
        x = x.sigmoid()
    dec = layer.eval()(x, (96, 160))
    with torch.no_grad():  # the inference decode (decode_cells_inplace)
        dec_nograd = layer(x, (96, 160))
    assert torch.allclose(dec_nograd, dec, rtol=1e-6, atol=1e-7)
    raw = layer.train()(x, (96, 160))
    assert dec.shape == raw.shape == (2, 2, 3, 5, 7)
    assert torch.allclose(layer.decode(raw, (96, 160)), dec)
    for b in range(2):
        for n in range(2):
            for j in range(3):
                for i in range(5):
                    cell = x[b, n * 7:(n + 1) * 7, j, i].tolist()
                    ref = _get_yolo_box_reference(cell, i, j, n, anchors, mask, 5, 3, 160, 96,
                                                  scale, new_coords)
                    assert dec[b, n, j, i].tolist() == pytest.approx(ref, rel=1e-5, abs=1e-6)
    assert torch.equal(raw[1, 1, 2, 4], x[1, 7:, 2, 4])  # raw = conv output reshaped


def test_train_mode_raw_and_decode_is_differentiable():
    net = Darknet.from_cfg(parse_cfg_text(TINY))
    x = torch.rand(2, 3, 64, 64)
    net.train()
    raw = net(x)
    assert raw[0].shape == (2, 2, 16, 16, 7)
    dec = net.yolo_layers[0].decode(raw[0], (64, 64))
    dec.sum().backward()
    assert net.layers[5].conv.weight.grad is not None
    yolo = net.yolo_layers[0]
    assert yolo.anchors.shape == (3, 2) and yolo.mask == [0, 1] and yolo.classes == 2
    assert yolo.scale_x_y == pytest.approx(1.1) and yolo.section.get_int("num") == 3


def test_stopbackward_blocks_gradients_into_earlier_layers():
    net = Darknet.from_cfg(parse_cfg_text(TINY)).train()
    net(torch.rand(1, 3, 64, 64))[0].sum().backward()
    assert net.layers[0].conv.weight.grad is None  # stopbackward=1 on layer 2, routed past it
    net2 = Darknet.from_cfg(parse_cfg_text(TINY.replace("stopbackward=1", "stopbackward=800")))
    net2.set_iteration(900)
    net2.train()(torch.rand(1, 3, 64, 64))[0].sum().backward()
    assert net2.layers[0].conv.weight.grad is not None  # past iteration 800 it trains


def test_hooks_reach_cmbn_and_dropblock():
    net = Darknet.from_cfg(parse_cfg_text(TINY)).train()
    net(torch.rand(2, 3, 64, 64))
    net(torch.rand(2, 3, 64, 64))
    assert net.layers[2].bn.minibatch_index == 2
    net.begin_batch()
    assert net.layers[2].bn.minibatch_index == 0
    net.set_iteration(425)
    assert net.layers[3].iteration == 425 and net.layers[3].max_batches == 1000
    net.set_iteration(10, max_batches=20)
    assert net.layers[3].max_batches == 20


def test_eval_is_deterministic_and_dropblock_off():
    net = Darknet.from_cfg(parse_cfg_text(TINY)).eval()
    net.set_iteration(10_000)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(net(x)[0], net(x)[0])


def test_input_errors():
    net = Darknet.from_cfg(parse_cfg_text(TINY)).eval()
    with pytest.raises(YoloError, match="multiple of the network stride 4"):
        net(torch.rand(1, 3, 66, 64))
    with pytest.raises(YoloError, match=r"Tensor\[B, 3, H, W\]"):
        net(torch.rand(1, 1, 64, 64))
    with pytest.raises(CfgError, match="first section must be"):
        Darknet.from_cfg(parse_cfg_text(TINY.replace("[net]", "[maxpool]")))


def test_fuse_keeps_outputs(shared_darknet):
    torch.manual_seed(0)
    net = Darknet.from_cfg(shared_darknet / "cfg" / "yolov4-tiny.cfg").eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        ref = net(x)
        out = net.fuse()(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    for a, b in zip(ref, out):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_channels_last_gives_same_outputs(shared_darknet):
    net = Darknet.from_cfg(shared_darknet / "cfg" / "yolov3-tiny.cfg").eval()
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        ref = net(x)
        net = net.to(memory_format=torch.channels_last)
        out = net(x.contiguous(memory_format=torch.channels_last))
    for a, b in zip(ref, out):
        assert torch.allclose(a, b, atol=1e-5)


def test_save_cfg_round_trip(tmp_path, shared_darknet):
    net = Darknet.from_cfg(shared_darknet / "cfg" / "yolov4-tiny.cfg", classes=5)
    net.save_cfg(tmp_path / "out.cfg")
    assert read_cfg(tmp_path / "out.cfg") == net.sections


def test_half_precision_heads_decode_in_float32():
    layer = YoloLayer([10, 14, 23, 27], [0, 1], classes=1).eval()
    x = torch.randn(1, 12, 4, 4)
    ref = layer(x, (128, 128))
    out = layer(x.bfloat16(), (128, 128))
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref, atol=0.05)


def test_summary_method(shared_darknet):
    net = Darknet.from_cfg(shared_darknet / "cfg" / "yolov4-tiny.cfg")
    assert round(net.summary(416, 416).bflops, 2) == 6.91


def test_cbn_key_and_classes_leave_caller_sections_alone():
    sections = parse_cfg_text(TINY.replace("batch_normalize=1", "batch_normalize=1\ncbn=1"))
    net = Darknet.from_cfg(sections, classes=4)
    assert type(net.layers[0].bn).__name__ == "CmBatchNorm2d"  # parse_convolutional: cbn=1
    assert sections[-1].get_int("classes") == 2 and net.sections[-1].get_int("classes") == 4


@pytest.mark.parametrize("new_coords", [0, 1])
@pytest.mark.parametrize("scale_x_y", [1.0, 1.05, 2.0])
def test_inference_decode_equals_differentiable_decode(new_coords, scale_x_y):
    """The no-grad decode (fewer passes, strided input) equals decode_cells to one ulp."""
    from yolov4.layers.yolo import decode_cells_inplace

    torch.manual_seed(0)
    x = torch.randn(2, 3 * 85, 13, 17).contiguous(memory_format=torch.channels_last)
    raw = x.view(2, 3, 85, 13, 17).permute(0, 1, 3, 4, 2)
    if new_coords:
        raw = raw.sigmoid()
    anchors = torch.rand(3, 2)
    ref = decode_cells(raw, anchors, scale_x_y, new_coords)
    got = decode_cells_inplace(raw, anchors, scale_x_y, new_coords)
    assert got.is_contiguous() and got.shape == ref.shape
    assert ((got - ref).abs() <= 2.5e-7 * ref.abs().clamp(min=1)).all()
