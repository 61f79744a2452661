"""The layer-type table: shapes, graph, summary and weights dispatch through it alone."""
from __future__ import annotations

import struct

import pytest
import torch
from torch import nn

from yolov4.darknet.cfg import ALIASES, LAYER_TYPES as CFG_TYPES, make_section
from yolov4.darknet.graph import Darknet
from yolov4.darknet.layer_types import LAYER_TYPES, LayerType, Shaped, layer_type
from yolov4.darknet.shapes import infer_layers
from yolov4.darknet.summary import summarize
from yolov4.errors import CfgError


def test_table_covers_the_cfg_reader():
    assert set(LAYER_TYPES) | set(ALIASES) - {"network"} == CFG_TYPES
    assert {a: ALIASES[a] for a in ("conv", "max", "avg", "soft")} == \
        {"conv": "convolutional", "max": "maxpool", "avg": "avgpool", "soft": "softmax"}
    assert layer_type(make_section("conv")).name == "convolutional"
    with pytest.raises(CfgError, match=r"unknown layer type \[lstm\]"):
        layer_type(make_section("lstm"))


class _Scale(nn.Module):
    """y = a·x with one stored weight ``a``."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.a


def _scale_type() -> LayerType:
    return LayerType(
        "scale_by",
        shape=lambda s, i, prev, specs: Shaped(prev, weights=1),
        build=lambda spec, options: _Scale(),
        summary=lambda spec: [f"scale_by {spec.out_shape[0]}"],
        tensors=lambda module, spec: [module.a])


def test_a_new_type_is_one_table_entry(monkeypatch, tmp_path):
    monkeypatch.setitem(LAYER_TYPES, "scale_by", _scale_type())
    sections = [make_section("net", width=8, height=8, channels=3),
                make_section("convolutional", filters=2, size=1, activation="linear"),
                make_section("scale_by")]
    specs = infer_layers(sections)
    assert specs[1].type == "scale_by" and specs[1].out_shape == (2, 8, 8)
    assert specs[1].weights == 1 and specs[1].trainable == 1
    assert summarize(sections).lines[2] == "   1 scale_by 2"
    net = Darknet(sections).eval()
    with torch.no_grad():
        net.layers[1].a.fill_(3.0)
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(net(x)[0], 3.0 * net.layers[0](x))
    # .weights: conv bias[2], conv weight[2·3], then the new layer's one float
    path = tmp_path / "w.weights"
    net.save_weights(path)
    body = path.read_bytes()[20:]
    assert len(body) == 4 * (2 + 6 + 1)
    assert struct.unpack("<f", body[-4:])[0] == 3.0
