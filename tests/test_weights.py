"""Darknet .weights IO: float counts (published facts), round trips, header versions, errors."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from darknet_random import write_random_weights
from yolov4.darknet.cfg import parse_cfg_text, read_cfg
from yolov4.darknet.graph import Darknet
from yolov4.darknet.shapes import count_weights
from yolov4.errors import CfgError, WeightsError

SMALL_CFG = """
[net]
width=32
height=32
channels=3

[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=4
size=1
stride=1
pad=1
activation=linear

[shortcut]
from=-2
weights_type=per_channel
weights_normalization=softmax
activation=linear

[convolutional]
batch_normalize=2
filters=8
size=3
stride=1
pad=1
groups=2
activation=mish

[shortcut]
from=-3
weights_type=per_feature
activation=linear

[convolutional]
filters=18
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=4,5, 8,9, 12,13
classes=1
num=3
"""


@pytest.mark.parametrize("name,floats", [
    ("yolov4.cfg", 64_429_405), ("yolov4-tiny.cfg", 6_062_814),
    ("yolov3.cfg", 62_001_757), ("yolov3-tiny.cfg", 8_858_734),
])
def test_float_counts_of_official_cfgs(shared_darknet, name, floats):
    assert count_weights(read_cfg(shared_darknet / "cfg" / name)) == floats


def test_official_file_sizes(shared_darknet):
    # published sizes: 20-byte header + 4 bytes per float
    assert 20 + 4 * count_weights(read_cfg(shared_darknet / "cfg" / "yolov4.cfg")) == 257_717_640
    assert 20 + 4 * count_weights(read_cfg(shared_darknet / "cfg" / "yolov4-tiny.cfg")) \
        == 24_251_276
    # yolov4.conv.137 (darknet partial ... 137) holds 42,509,664 floats
    assert count_weights(read_cfg(shared_darknet / "cfg" / "yolov4.cfg"), upto=137) == 42_509_664


def test_real_weights_load_with_their_seen(shared_darknet):
    net = Darknet.from_cfg(shared_darknet / "weights" / "yolov3-tiny.cfg")
    net.load_weights(shared_darknet / "weights" / "yolov3-tiny.weights")
    assert net.header == (0, 2, 0) and net.seen == 32_013_312  # iteration 500,208 x batch 64
    net = Darknet.from_cfg(shared_darknet / "weights" / "yolov4-tiny.cfg")
    net.load_weights(shared_darknet / "weights" / "yolov4-tiny.weights")
    conv0 = net.layers[0]
    assert conv0.conv.weight.shape == (32, 3, 3, 3)
    assert float(conv0.bn.running_var.min()) > 0  # rolling variances landed where they belong


def _small(tmp_path: Path) -> Path:
    cfg = tmp_path / "small.cfg"
    cfg.write_text(SMALL_CFG)
    return cfg


def _randomize(net: Darknet, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(net.parameters()) + [b for b in net.buffers() if b.is_floating_point()]:
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)


def test_round_trip_identical_tensors(tmp_path):
    cfg = _small(tmp_path)
    net = Darknet.from_cfg(cfg)
    _randomize(net)
    net.seen = 123_456_789_012
    path = tmp_path / "a.weights"
    net.save_weights(path)
    assert path.stat().st_size == 20 + 4 * count_weights(read_cfg(cfg))
    other = Darknet.from_cfg(cfg)
    other.load_weights(path)
    assert other.seen == 123_456_789_012
    a, b = net.state_dict(), other.state_dict()
    for key in a:
        if key.endswith("num_batches_tracked"):
            continue
        assert torch.equal(a[key], b[key]), key


def test_reader_agrees_with_independent_writer(tmp_path):
    """A file written by plain numpy loads, and writing it back gives the same bytes."""
    cfg = _small(tmp_path)
    src = tmp_path / "np.weights"
    write_random_weights(cfg, src, seen=77)
    net = Darknet.from_cfg(cfg)
    net.load_weights(src)
    floats = np.frombuffer(src.read_bytes(), "<f4", offset=20)
    assert torch.equal(net.layers[0].bn.bias, torch.from_numpy(floats[:4].copy()))  # biases first
    assert torch.equal(net.layers[0].bn.weight, torch.from_numpy(floats[4:8].copy()))  # scales
    assert torch.equal(net.layers[0].bn.running_var, torch.from_numpy(floats[12:16].copy()))
    out = tmp_path / "back.weights"
    net.save_weights(out)
    assert out.read_bytes() == src.read_bytes()


def test_old_header_uses_uint32_seen(tmp_path):
    cfg = _small(tmp_path)
    body = np.random.default_rng(0).uniform(0.5, 1.5, count_weights(read_cfg(cfg)))
    path = tmp_path / "old.weights"
    path.write_bytes(struct.pack("<iiiI", 0, 1, 0, 4242) + body.astype("<f4").tobytes())
    net = Darknet.from_cfg(cfg)
    net.load_weights(path)
    assert net.seen == 4242 and net.header == (0, 1, 0)
    assert torch.equal(net.layers[0].bn.bias, torch.from_numpy(body[:4].astype(np.float32)))


def test_truncated_file_names_file_bytes_and_layer(tmp_path):
    cfg = _small(tmp_path)
    path = tmp_path / "t.weights"
    write_random_weights(cfg, path)
    data = path.read_bytes()
    expected = len(data)
    # cut inside layer 3 (the CmBN conv): layer 0 has 4*4+108 = 124 floats, layer 1 has 20,
    # layer 2 has 8 (per_channel, 2 inputs x 4 channels)
    cut = 20 + 4 * (124 + 20 + 8 + 10)
    path.write_bytes(data[:cut])
    with pytest.raises(WeightsError) as err:
        Darknet.from_cfg(cfg).load_weights(path)
    msg = str(err.value)
    assert str(path) in msg and f"{expected:,}" in msg and f"{cut:,}" in msg
    assert "layer 3 [convolutional]" in msg and "small.cfg:" in msg


def test_extra_bytes_are_an_error(tmp_path):
    cfg = _small(tmp_path)
    path = tmp_path / "x.weights"
    write_random_weights(cfg, path)
    path.write_bytes(path.read_bytes() + b"\0\0\0\0\0\0")
    with pytest.raises(WeightsError, match=r"extra bytes.*6 extra"):
        Darknet.from_cfg(cfg).load_weights(path)


def test_short_header_and_missing_file(tmp_path):
    cfg = _small(tmp_path)
    path = tmp_path / "h.weights"
    path.write_bytes(b"\0" * 10)
    with pytest.raises(WeightsError, match="too short"):
        Darknet.from_cfg(cfg).load_weights(path)
    with pytest.raises(WeightsError, match="not found"):
        Darknet.from_cfg(cfg).load_weights(tmp_path / "nope.weights")


def test_partial_save_and_load_upto(tmp_path):
    cfg = _small(tmp_path)
    net = Darknet.from_cfg(cfg)
    _randomize(net, 1)
    part = tmp_path / "part.weights"
    net.save_weights(part, upto=3)
    assert part.stat().st_size == 20 + 4 * count_weights(read_cfg(cfg), upto=3)
    fresh = Darknet.from_cfg(cfg)
    before = fresh.layers[3].conv.weight.clone()
    fresh.load_weights(part, upto=3)
    assert torch.equal(fresh.layers[1].conv.weight, net.layers[1].conv.weight)
    assert torch.equal(fresh.layers[2].weight, net.layers[2].weight)
    assert torch.equal(fresh.layers[3].conv.weight, before)  # untouched
    full = tmp_path / "full.weights"
    net.save_weights(full)
    fresh.load_weights(full, upto=3)  # a full file may feed a partial load
    with pytest.raises(WeightsError, match="too few"):
        Darknet.from_cfg(cfg).load_weights(part)  # but not a full load


def test_fused_network_refuses_to_save(tmp_path):
    net = Darknet.from_cfg(_small(tmp_path)).fuse()
    with pytest.raises(WeightsError, match="fused"):
        net.save_weights(tmp_path / "f.weights")


def test_unknown_layer_type_names_line():
    text = SMALL_CFG.replace("[shortcut]\nfrom=-3", "[crop]\nfrom=-3")
    line = text.splitlines().index("[crop]") + 1
    with pytest.raises(CfgError, match=rf"small.cfg:{line}: unknown layer type \[crop\]"):
        parse_cfg_text(text, "small.cfg")


@pytest.mark.parametrize("old,new,pattern", [
    ("filters=4\nsize=3", "filters=four\nsize=3", r"small.cfg:\d+: \[convolutional\] key 'filters'"),
    ("from=-3", "from=-9", r"key 'from': layer -9"),
    ("groups=2", "groups=3", r"groups=3"),
    ("classes=1", "classes=2", r"len\(mask\)\*\(classes\+5\)"),
    ("weights_type=per_feature", "weights_type=per_pixel", r"weights_type"),
    ("activation=mish", "activation=sparkle", r"unknown activation 'sparkle'"),
])
def test_bad_key_values_name_file_and_line(old, new, pattern):
    sections = parse_cfg_text(SMALL_CFG.replace(old, new, 1), "small.cfg")
    with pytest.raises(CfgError, match=pattern):
        Darknet.from_cfg(sections)
