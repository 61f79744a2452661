"""Backbone transfer: the zoo classifiers are the detectors' first layers, ``yolov4 partial``
cuts a trained classifier into a file the detector loads layer by layer (mismatches refused
with the reason), and the cut stays a Darknet file OpenCV DNN runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yolov4.cli.partial import cut
from yolov4.darknet.cfg import read_cfg
from yolov4.darknet.graph import Darknet
from yolov4.darknet.weights import layer_tensors
from yolov4.engine.starting import init_from_weights, partial_cfg_path
from yolov4.errors import WeightsError
from yolov4.models import build_sections, create_model
from yolov4.models.classifier import backbone_layers

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "darknet" / "cfg"
TINY = dict(width_multiple=0.25, width=64, height=64)


def _trained_classifier(tmp_path: Path, **options) -> Path:
    torch.manual_seed(1)
    net = create_model("cspdarknet53-tiny", classes=4, **dict(TINY, **options))
    with torch.no_grad():                      # "trained": non-default BN statistics too
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    net.save_cfg(tmp_path / "model.cfg")
    net.save_weights(tmp_path / "model.weights")
    return tmp_path / "model.cfg"


def test_cspdarknet53_is_csdarknet53_omega():
    path = SHARED / "csdarknet53-omega.cfg"
    if not path.exists():
        pytest.skip(f"{path} not found (../shared/darknet)")
    ours, theirs = build_sections("cspdarknet53", classes=1000), read_cfg(path)
    assert [(s.type, dict(s.options)) for s in ours[1:]] == \
        [(s.type, dict(s.options)) for s in theirs[1:]]
    assert backbone_layers(ours) == 105


@pytest.mark.parametrize("classifier,detector,n", [("cspdarknet53", "yolov4", 105),
                                                  ("cspdarknet53-tiny", "yolov4-tiny", 27)])
def test_classifier_layers_are_the_detector_backbone(classifier, detector, n):
    assert backbone_layers(build_sections(classifier, classes=7)) == n
    opts = dict(width_multiple=0.25, depth_multiple=0.33, cmbn=True)
    c, d = build_sections(classifier, classes=7, **opts), build_sections(detector, **opts)
    n = backbone_layers(c)
    assert [(s.type, dict(s.options)) for s in c[1:n + 1]] == \
        [(s.type, dict(s.options)) for s in d[1:n + 1]]


def test_partial_cut_loads_into_the_detector_layer_by_layer(tmp_path: Path):
    cfg = _trained_classifier(tmp_path)
    path, n, _ = cut(str(cfg), str(tmp_path / "model.weights"), str(tmp_path / "backbone.conv"))
    assert n == 27 and partial_cfg_path(path).exists()
    classifier = Darknet.from_cfg(cfg)
    classifier.load_weights(tmp_path / "model.weights")
    det = create_model("yolov4-tiny", classes=3, **TINY)
    start = init_from_weights(det, path)
    assert "loaded layers 0-26" in start.lines[0] and "layer by layer" in start.lines[0]
    assert min(start.fresh) >= n
    for i in range(len(det.layers)):
        ours, theirs = layer_tensors(det, i), (layer_tensors(classifier, i) if i < n else [])
        if i < n:
            assert len(ours) == len(theirs)
            assert all(torch.equal(a, b) for a, b in zip(ours, theirs)), f"layer {i}"
    # same backbone features: the stride-32 map both compute at layer 26
    x = torch.rand(1, 3, 64, 64)
    feats = []
    for net in (classifier.eval(), det.eval()):
        h = net.layers[n - 1].register_forward_hook(lambda m, i, o: feats.append(o))
        with torch.no_grad():
            net(x)
        h.remove()
    assert torch.equal(feats[0], feats[1])


def test_mismatched_backbones_are_explained(tmp_path: Path):
    cfg = _trained_classifier(tmp_path, activation="mish")
    path, _, _ = cut(str(cfg), str(tmp_path / "model.weights"), str(tmp_path / "b.conv"))
    det = create_model("yolov4-tiny", classes=3, **TINY)
    with pytest.raises(WeightsError, match=r"layer 0 .*activation=mish in the file, leaky in "
                                           r"the model"):
        init_from_weights(det, path)
    narrow = tmp_path / "narrow"
    narrow.mkdir()
    cfg = _trained_classifier(narrow)
    path, _, _ = cut(str(cfg), str(narrow / "model.weights"), str(narrow / "b.conv"))
    det = create_model("yolov4-tiny", classes=3, **dict(TINY, width_multiple=0.5))
    with pytest.raises(WeightsError, match=r"layer 0 .*output channels 8 in the file, 16"):
        init_from_weights(det, path)
    partial_cfg_path(path).unlink()           # only the float count is left to check
    with pytest.raises(WeightsError, match=r"fit neither .*ends inside layer"):
        init_from_weights(det, path)


def test_opencv_runs_the_cut_backbone(tmp_path: Path):
    cv2 = pytest.importorskip("cv2")
    cfg = _trained_classifier(tmp_path)
    path, n, _ = cut(str(cfg), str(tmp_path / "model.weights"), str(tmp_path / "backbone.conv"))
    cvnet = cv2.dnn.readNetFromDarknet(str(partial_cfg_path(path)), str(path))
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    cvnet.setInput(x)
    theirs = cvnet.forward()
    ours = Darknet.from_cfg(partial_cfg_path(path), bn_eps=1e-6)
    ours.load_weights(path)
    with torch.no_grad():
        out = ours.eval()(torch.from_numpy(x))[0].numpy()
    assert out.shape == theirs.shape and np.abs(out - theirs).max() < 1e-4
