"""Parity of the layer graph with OpenCV DNN's Darknet importer (an independent implementation).

For every official cfg OpenCV can read: a temp copy at a small input size with ``thresh=0`` in
each ``[yolo]`` (OpenCV writes class columns as obj·prob zeroed under ``thresh``, 0.2 by default;
with 0 nothing is zeroed), random weights written by plain numpy in Darknet format, then both
(a) the tensors entering every ``[yolo]`` layer (the head conv output) and (b) the decoded outputs
(our cx, cy, w, h, obj and obj·cls against OpenCV's rows, which are ordered row, column, anchor)
must agree within 1e-4, with ``bn_eps=1e-6`` as OpenCV uses. Then the real COCO weights on the
real photos. ``yolov4-sam-mish-csp-reorg-bfm.cfg`` is refused by OpenCV (no ``[reorg3d]``); its
layers are covered by test_layers.py against Darknet's loops.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch

from darknet_random import small_cfg, write_random_weights
from yolov4.darknet.graph import Darknet

cv2 = pytest.importorskip("cv2")

#: cfg -> (input size, width divisor). Every cfg runs at its official width by default (the
#: whole file set takes ~15 s of CPU); YOLOV4_FULL_PARITY=0 runs the big graphs with every
#: non-head conv 8x narrower (same layer graph, 64x fewer weights) for a quicker local loop.
FULL = os.environ.get("YOLOV4_FULL_PARITY", "1") != "0"
CFGS = {"yolov4.cfg": (64, 8), "yolov4-custom.cfg": (64, 8), "yolov4-csp.cfg": (64, 8),
        "yolov3.cfg": (64, 8), "csresnext50-panet-spp.cfg": (64, 8),
        "csdarknet53-omega.cfg": (64, 8), "yolov4-tiny.cfg": (128, 1),
        "yolov4-tiny-custom.cfg": (128, 1), "yolov3-tiny.cfg": (128, 1)}
#: cfgs OpenCV 4.x cannot read, with its error (asserted, so the statement stays true)
OPENCV_REFUSES = {"yolov4-sam-mish-csp-reorg-bfm.cfg": "Unknown layer type: reorg3d"}
TOL = 1e-4       # decoded outputs, absolute
HEAD_TOL = 3e-4  # logits entering [yolo] (fp32 rounding over ~30 layers of real weights)


def _opencv_outputs(cfg: Path, weights: Path, blob: np.ndarray, net: Darknet):
    """OpenCV's decoded yolo outputs and the tensors entering each [yolo] layer."""
    cvnet = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    names = list(cvnet.getLayerNames())
    # OpenCV names the [yolo] of Darknet layer i 'yolo_i' and feeds it through 'permute_i'
    heads = [names[names.index(f"permute_{i}") - 1] for i in net.yolo_indices]
    cvnet.setInput(blob)
    outs = cvnet.forward(list(cvnet.getUnconnectedOutLayersNames()) + heads)
    k = len(outs) - len(heads)
    return outs[:k], outs[k:]


def _ours(net: Darknet, x: np.ndarray):
    """Eval-mode outputs and, via forward hooks, the tensors entering each [yolo] layer."""
    heads: List[torch.Tensor] = []
    hooks = [y.register_forward_hook(lambda m, args, out: heads.append(args[0]))
             for y in net.yolo_layers]
    try:
        with torch.no_grad():
            outs = net.eval()(torch.from_numpy(x))
    finally:
        for h in hooks:
            h.remove()
    return outs, heads


def _compare(net: Darknet, x: np.ndarray, decoded_cv: List[np.ndarray], heads_cv):
    """``(decoded max abs diff, head-tensor max diff relative to max(1, |x|), our outputs)``."""
    ours, heads = _ours(net, x)
    if not net.yolo_indices:  # classifier: the last layer's output
        return float(np.abs(ours[0].numpy().reshape(decoded_cv[0].shape)
                            - decoded_cv[0]).max()), 0.0, ours
    worst = worst_head = 0.0
    for dec, head, cv_dec, cv_head in zip(ours, heads, decoded_cv, heads_cv):
        b, a, h, w, d = dec.shape
        worst_head = max(worst_head, float(
            (np.abs(head.numpy() - cv_head) / np.maximum(1, np.abs(cv_head))).max()))
        rows = dec.permute(0, 2, 3, 1, 4).reshape(b, h * w * a, d).numpy().copy()
        rows[..., 5:] *= rows[..., 4:5]
        cv_rows = cv_dec.reshape(b, h * w * a, d)
        # random weights give boxes up to ~100x the input (w = e^tw·anchor): w, h are compared
        # relative to max(1, |w|); everything else (and every real-weights box) absolutely
        scale = np.ones_like(cv_rows)
        scale[..., 2:4] = np.maximum(1, np.abs(cv_rows[..., 2:4]))
        worst = max(worst, float((np.abs(rows - cv_rows) / scale).max()))
    return worst, worst_head, ours


@pytest.mark.parametrize("name", sorted(CFGS) + sorted(OPENCV_REFUSES))
def test_random_weights_match_opencv(shared_darknet, tmp_path, name):
    src = shared_darknet / "cfg" / name
    if not src.exists():
        pytest.skip(f"{src} absent")
    size, narrow = (128, 1) if FULL else CFGS.get(name, (128, 1))
    cfg = small_cfg(src, tmp_path / name, size, {"thresh": "0"}, narrow)
    if name in OPENCV_REFUSES:
        with pytest.raises(cv2.error, match=OPENCV_REFUSES[name]):
            cv2.dnn.readNetFromDarknet(str(cfg))
        pytest.skip(f"OpenCV refuses {name}: {OPENCV_REFUSES[name]}")
    weights = tmp_path / "random.weights"
    write_random_weights(cfg, weights, seed=len(name))
    net = Darknet.from_cfg(cfg, bn_eps=1e-6)
    net.load_weights(weights)
    x = np.random.default_rng(0).random((2, 3, size, size), dtype=np.float32)
    decoded, heads = _opencv_outputs(cfg, weights, x, net)
    decoded_diff, head_diff, _ = _compare(net, x, decoded, heads)
    assert decoded_diff <= TOL and head_diff <= HEAD_TOL


@pytest.mark.parametrize("stem", ["yolov4-tiny", "yolov3-tiny"])
def test_real_coco_weights_on_photos_match_opencv(shared_darknet, tmp_path, stem):
    folder = shared_darknet / "weights"
    if not (folder / f"{stem}.weights").exists():
        pytest.skip(f"{stem}.weights absent")
    cfg = small_cfg(folder / f"{stem}.cfg", tmp_path / f"{stem}.cfg", 416, {"thresh": "0"})
    names = ["dog", "horses", "person"]  # three of the six photos keep CPU time small
    images = [cv2.imread(str(shared_darknet / "images" / f"{n}.jpg")) for n in names]
    assert all(im is not None for im in images)
    blob = cv2.dnn.blobFromImages(images, 1 / 255.0, (416, 416), swapRB=True, crop=False)
    net = Darknet.from_cfg(cfg, bn_eps=1e-6)
    net.load_weights(folder / f"{stem}.weights")
    decoded, heads = _opencv_outputs(cfg, folder / f"{stem}.weights", blob, net)
    decoded_diff, head_diff, outs = _compare(net, blob, decoded, heads)
    assert decoded_diff <= TOL and head_diff <= HEAD_TOL
    # sanity on dog.jpg: Darknet finds a dog (16), a bicycle (1) and a truck (7) at thresh .25
    scores = torch.cat([(o[0, ..., 5:] * o[0, ..., 4:5]).reshape(-1, 80) for o in outs])
    found = set(torch.nonzero(scores > 0.25)[:, 1].tolist())
    assert {1, 7, 16} <= found
