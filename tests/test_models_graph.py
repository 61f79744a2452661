"""Zoo models as layer graphs: real COCO weights, OpenCV DNN parity, option variants run.

Oracles: OpenCV's own Darknet importer (``cv2.dnn.readNetFromDarknet``) reading the cfg our
builder writes with the same weights (real COCO weights, or random ones written by the numpy
writer in tests/darknet_random.py); Darknet's known detections on dog.jpg (dog, bicycle, truck);
inference-time identities (CmBN and DropBlock do not change eval outputs).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch

from darknet_random import write_random_weights
from yolov4.darknet.cfg import read_cfg, write_cfg
from yolov4.darknet.graph import Darknet
from yolov4.darknet.shapes import count_weights
from yolov4.models import build_sections, create_model

TOL = 1e-4


def _opencv_outputs(cfg: Path, weights: Path, blob: np.ndarray) -> List[np.ndarray]:
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setInput(blob)
    return list(net.forward(net.getUnconnectedOutLayersNames()))


def _max_diff(ours: List[torch.Tensor], theirs: List[np.ndarray]) -> float:
    """Max |diff| of box+objectness and of obj*prob (OpenCV's class columns, thresh=0).

    Ours: ``Tensor[B, A, H, W, 5+C]``; OpenCV: rows ordered (y, x, anchor) per [yolo].
    """
    assert len(ours) == len(theirs)
    worst = 0.0
    for y, o in zip(ours, theirs):
        rows = y.permute(0, 2, 3, 1, 4).reshape(-1, y.shape[-1]).numpy()
        assert rows.shape == o.shape
        worst = max(worst, float(np.abs(rows[:, :5] - o[:, :5]).max()),
                    float(np.abs(rows[:, 4:5] * rows[:, 5:] - o[:, 5:]).max()))
    return worst


def _write_for_opencv(sections, path: Path) -> Path:
    """The sections as a cfg with ``thresh=0`` on every [yolo] (OpenCV zeroes probs below it)."""
    sections = copy.deepcopy(list(sections))
    for s in sections:
        if s.type == "yolo":
            s.set("thresh", 0)
    write_cfg(sections, path)
    return path


@pytest.mark.parametrize("name", ["yolov4-tiny", "yolov3-tiny"])
def test_real_coco_weights_match_opencv_and_find_the_dog(name: str, shared_darknet,
                                                         tmp_path: Path) -> None:
    weights = shared_darknet / "weights" / f"{name}.weights"
    # the weights load into the default builder: the loader checks the exact file size
    model = create_model(name, weights=weights, bn_eps=1e-6).eval()
    image = cv2.imread(str(shared_darknet / "images" / "dog.jpg"))
    blob = cv2.dnn.blobFromImage(cv2.resize(image, (416, 416)), 1 / 255.0, (416, 416),
                                 swapRB=True, crop=False)
    cfg = _write_for_opencv(build_sections(name), tmp_path / f"{name}.cfg")
    with torch.no_grad():
        ours = model(torch.from_numpy(blob))
    assert _max_diff(ours, _opencv_outputs(cfg, weights, blob)) <= TOL
    found = set()
    for y in ours:
        y = y.reshape(-1, y.shape[-1])
        found |= {int(c) for c in ((y[:, 4:5] * y[:, 5:]) > 0.3).nonzero()[:, 1]}
    assert {1, 7, 16} <= found  # bicycle, truck, dog (coco.names order)


VARIANTS = [
    ("yolov4", {}),
    ("yolov4", dict(sam=True, activation="swish", neck="fpn", dropblock=True, csp=False,
                    spp=False)),
    ("yolov4-csp", {}),
    ("yolov4-csp", dict(sam=True, neck="fpn", csp=False, spp=False, activation="leaky")),
    ("yolov3", dict(spp=True, sam=True, csp=True)),
    ("yolov4-tiny", dict(sam=True, activation="mish")),
    ("yolov4-tiny", dict(new_coords=1, scale_x_y=2.0)),
    ("yolov3-tiny", dict(sam=True, activation="swish")),
    ("csresnext50-panet-spp", {}),
    ("csresnext50-panet-spp", dict(activation="mish", sam=True, neck="fpn", spp=False)),
]


@pytest.mark.parametrize("name, options", VARIANTS)
def test_small_variants_match_opencv(name: str, options: Dict, tmp_path: Path) -> None:
    sections = build_sections(name, classes=4, width=128, height=96, width_multiple=0.25,
                              depth_multiple=0.33, **options)
    cfg = _write_for_opencv(sections, tmp_path / "model.cfg")
    weights = tmp_path / "model.weights"
    floats = write_random_weights(cfg, weights, seed=1)
    model = Darknet.from_cfg(read_cfg(cfg), bn_eps=1e-6).eval()
    model.load_weights(weights)
    assert floats == count_weights(sections)
    blob = np.random.default_rng(0).uniform(0, 1, (1, 3, 96, 128)).astype(np.float32)
    # the maps entering each [yolo] too (not squashed by the logistic): OpenCV's "permute_N"
    # layer holds yolo_N's input as [1, H, W, C]
    raw: List[torch.Tensor] = []
    for j in model.yolo_indices:
        model.layers[j - 1].register_forward_hook(lambda m, i, out: raw.append(out))
    with torch.no_grad():
        ours = model(torch.from_numpy(blob))
    assert _max_diff(ours, _opencv_outputs(cfg, weights, blob)) <= TOL
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setInput(blob)
    names = [n.replace("yolo_", "permute_") for n in net.getUnconnectedOutLayersNames()]
    for r, o in zip(raw, net.forward(names)):
        assert float(np.abs(r.permute(0, 2, 3, 1).numpy() - o).max()) <= 1e-5


#: Every option value of every model at least once (all combinations are checked statically
#: in test_models.py; these run them).
FORWARD = [
    ("yolov4", dict(activation="leaky")),
    ("yolov4", dict(activation="swish", csp=False, spp=False, sam=True, neck="fpn")),
    ("yolov4", dict(activation="mish", dropblock=True, cmbn=True)),
    ("yolov4-csp", dict(csp=False, spp=False, sam=True, neck="fpn", activation="leaky")),
    ("yolov4-csp", dict(dropblock=True, cmbn=True)),
    ("yolov3", dict(csp=True, spp=True, sam=True, dropblock=True, cmbn=True,
                    activation="swish")),
    ("yolov4-tiny", dict(sam=True, cmbn=True, activation="swish")),
    ("yolov3-tiny", dict(sam=True, cmbn=True, activation="mish")),
    ("csresnext50-panet-spp", dict(dropblock=True, cmbn=True, width_multiple=0.1)),
]


@pytest.mark.parametrize("name, options", FORWARD)
def test_variants_run_forward_and_save_their_cfg(name: str, options: Dict, tmp_path: Path) -> None:
    options = {"width_multiple": 0.125, **options}
    model = create_model(name, classes=2, width=64, height=64, depth_multiple=0.33, **options)
    x = torch.rand(1, 3, 64, 96)
    strides = {8, 16, 32}
    model.train()
    raw = model(x)
    model.eval()
    with torch.no_grad():
        decoded = model(x)
    heads = len(model.yolo_layers)
    assert len(raw) == len(decoded) == heads
    for r, d, layer in zip(raw, decoded, model.yolo_layers):
        b, a, h, w, n = d.shape
        assert (b, a, n) == (1, len(layer.mask), 5 + 2) and r.shape == d.shape
        assert 64 // h in strides and 96 // w == 64 // h
        assert torch.isfinite(d).all()
    # larger anchors sit on coarser maps, whatever order the heads are written in
    by_anchor = sorted(zip(model.yolo_layers, decoded), key=lambda t: min(t[0].mask))
    strides_in_anchor_order = [64 // d.shape[2] for _, d in by_anchor]
    assert strides_in_anchor_order == sorted(strides_in_anchor_order)
    model.save_cfg(tmp_path / "model.cfg")
    assert read_cfg(tmp_path / "model.cfg") == model.sections


@pytest.mark.parametrize("option", ["cmbn", "dropblock"])
def test_cmbn_and_dropblock_do_not_change_inference(option: str, tmp_path: Path) -> None:
    # Darknet: CmBN is plain BN at inference, DropBlock the identity; same weights layout
    kwargs = dict(classes=3, width=64, height=64, width_multiple=0.125, depth_multiple=0.33)
    plain = create_model("yolov4", **kwargs).eval()
    switched = create_model("yolov4", **kwargs, **{option: True}).eval()
    cfg = tmp_path / "plain.cfg"
    plain.save_cfg(cfg)
    write_random_weights(cfg, tmp_path / "w.weights", seed=2)
    plain.load_weights(tmp_path / "w.weights")
    switched.load_weights(tmp_path / "w.weights")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(plain(x), switched(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_yolov4_graph_holds_the_official_float_count() -> None:
    # 64,429,405 floats in yolov4.weights: conv weights + biases + BN (scale, mean, var)
    model = create_model("yolov4")
    floats = sum(p.numel() for p in model.parameters())
    floats += sum(b.numel() for n, b in model.named_buffers()
                  if n.endswith(("running_mean", "running_var")))
    assert floats == 64_429_405
