"""Post-processing on hand-made decoded outputs, the Detector's inputs/outputs and its errors."""
from __future__ import annotations

import json
import warnings

import cv2
import numpy as np
import pytest
import torch

from yolov4.darknet.cfg import make_section, parse_cfg_text
from yolov4.errors import DataError, WeightsError, YoloError
from yolov4.postprocess import (NmsSettings, candidates, flatten_outputs, nms_settings_from_sections,
                                postprocess, unflatten_outputs)
from yolov4.predict import Detections, Detector
from yolov4.preprocess import ImageTransform

TINY_CFG = """
[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[maxpool]
size=4
stride=4

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=2
num=3
nms_kind=diounms
beta_nms=0.8
"""


def _one_layer_output():
    """A [yolo] output [B=1, A=1, H=2, W=2, 5+2]: cell row 0, col 1 holds the only object."""
    out = torch.zeros(1, 1, 2, 2, 7)
    out[0, 0, 0, 1] = torch.tensor([0.75, 0.25, 0.5, 0.25, 0.9, 0.5, 0.8])
    return [out]


def test_candidates_are_darknet_multi_label():
    pred = flatten_outputs(_one_layer_output())[0]
    boxes, scores, ids = candidates(pred, (64, 64), conf=0.25)
    # obj .9 > .25; .9*.5 = .45 and .9*.8 = .72 both > .25 -> two candidates (one per class)
    assert ids.tolist() == [0, 1]
    assert torch.allclose(scores, torch.tensor([0.45, 0.72]))
    # cx .75*64 = 48, cy 16, w 32, h 16 -> xyxy (32, 8, 64, 24)
    assert torch.allclose(boxes, torch.tensor([[32.0, 8, 64, 24]] * 2))
    _, scores, ids = candidates(pred, (64, 64), conf=0.25, multi_label=False)
    assert ids.tolist() == [1]
    _, scores, _ = candidates(pred, (64, 64), conf=0.5)
    assert torch.allclose(scores, torch.tensor([0.72]))


def test_postprocess_maps_to_image_pixels_and_clips():
    t = ImageTransform((32, 128), (64, 64), (64, 64))  # image h=32, w=128, plain resize
    (boxes, scores, ids), = postprocess(_one_layer_output(), [t], NmsSettings(conf=0.25))
    # (32, 8, 64, 24) in input px -> x * 2, y * 0.5 -> (64, 4, 128, 12)
    assert ids.tolist() == [1, 0]  # by decreasing score
    assert torch.allclose(boxes, torch.tensor([[64.0, 4, 128, 12]] * 2))


def test_nms_settings_from_last_yolo_section():
    secs = [make_section("net"), make_section("yolo", nms_kind="greedynms", beta_nms=0.3),
            make_section("yolo", nms_kind="diounms", beta_nms=0.7)]
    assert nms_settings_from_sections(secs) == ("diou", 0.7)
    assert nms_settings_from_sections(secs[:2]) == ("diou", 0.6)
    assert nms_settings_from_sections([make_section("net"), make_section("yolo")]) == ("greedy", 0.6)


@pytest.fixture(scope="module")
def tiny_cfg(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "tiny.cfg"
    p.write_text(TINY_CFG)
    return p


@pytest.fixture(scope="module")
def detector(tiny_cfg):
    torch.manual_seed(0)
    return Detector(str(tiny_cfg), conf=0.01)


def test_detector_defaults_from_cfg(detector):
    assert (detector.width, detector.height) == (64, 64)
    assert detector.settings.kind == "diou" and detector.settings.beta == pytest.approx(0.8)
    assert detector.names == ["0", "1"] and detector.letterbox is False


def test_numpy_inputs_bgr_rgb_and_batch(detector):
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    a = detector.predict(bgr)[0]
    b = detector.predict(bgr[:, :, ::-1].copy(), rgb=True)[0]
    assert a.image_size == (48, 80) and a.path is None
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.scores, b.scores)
    batch = np.stack([bgr, bgr[::-1].copy()])
    res = detector.predict(batch)
    assert len(res) == 2 and torch.allclose(res[0].boxes, a.boxes, atol=1e-4)  # batched conv
    assert len(detector.predict([bgr, bgr])) == 2
    assert len(a) > 0  # random weights at conf .01 find something


def test_paths_directory_glob_and_corrupt_skip(detector, tmp_path):
    im = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    for n in ("a.jpg", "b.png"):
        cv2.imwrite(str(tmp_path / n), im)
    (tmp_path / "c.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="c.jpg"):
        detector.predict(str(tmp_path))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = detector.predict(str(tmp_path), on_error="warn")
    assert [r.path.rsplit("/", 1)[1] for r in res] == ["a.jpg", "b.png"]
    assert any("c.jpg" in str(x.message) for x in w)
    assert len(detector.predict(str(tmp_path / "*.png"))) == 1
    assert len(detector.predict([str(tmp_path / "a.jpg")] * 3, batch_size=2)) == 3
    with pytest.raises(DataError, match="nothing_here"):
        detector.predict(str(tmp_path / "nothing_here.jpg"))


def test_video_frames(detector, tmp_path):
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(4):
        vw.write(np.full((48, 64, 3), 40 * i, np.uint8))
    vw.release()
    res = detector.predict(str(path))
    assert [r.frame for r in res] == [0, 1, 2, 3]
    assert res[0].image.shape == (48, 64, 3) and res[0].draw().shape == (48, 64, 3)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="broken.mp4"):
        detector.predict(str(bad))


def test_detections_exports():
    d = Detections(torch.tensor([[10.0, 20, 50, 60]]), torch.tensor([0.5]), torch.tensor([1]),
                   ["cat", "dog"], "/x/img.jpg", (100, 200))
    assert d.labels == ["dog"]
    rec = d.to_coco_json()
    assert rec == [{"file_name": "img.jpg", "category_id": 1, "bbox": [10.0, 20.0, 40.0, 40.0],
                    "score": 0.5}]
    json.dumps(rec)
    # cx = 30/200, cy = 40/100, w = 40/200, h = 40/100
    assert d.to_yolo_lines() == ["1 0.150000 0.400000 0.200000 0.400000"]
    img = np.zeros((100, 200, 3), np.uint8)
    drawn = d.draw(img)
    assert drawn.shape == img.shape and drawn.any() and not img.any()


def test_bad_inputs_name_the_file(tiny_cfg, tmp_path):
    with pytest.raises(WeightsError, match="missing.weights"):
        Detector(str(tiny_cfg), str(tmp_path / "missing.weights"))
    short = tmp_path / "short.weights"
    short.write_bytes(np.array([0, 2, 5], np.int32).tobytes() + b"\0" * 8 + b"\0" * 40)
    with pytest.raises(WeightsError, match="short.weights"):
        Detector(str(tiny_cfg), str(short))
    names = tmp_path / "three.names"
    names.write_text("a\nb\nc\n")
    with pytest.raises(DataError, match="three.names.*3 classes.*2"):
        Detector(str(tiny_cfg), names=str(names))
    with pytest.raises(YoloError, match="nope.cfg"):
        Detector(str(tmp_path / "nope.cfg"))
    with pytest.raises(YoloError, match="multiple of the network stride 8"):
        Detector(str(tiny_cfg), size=50)
    with pytest.raises(YoloError, match="NMS kind"):
        Detector(str(tiny_cfg), nms="fast")


def test_detector_from_module_and_letterbox(tiny_cfg):
    from yolov4.darknet.graph import Darknet

    net = Darknet.from_cfg(parse_cfg_text(TINY_CFG))
    det = Detector(net, size=(96, 64), letterbox=True, conf=0.01, nms="soft-gaussian")
    res = det.predict(np.zeros((30, 90, 3), np.uint8))[0]
    assert res.image_size == (30, 90)
    if len(res):
        assert float(res.boxes[:, 2].max()) <= 90 and float(res.boxes[:, 3].max()) <= 30


def test_detector_from_model_name():
    det = Detector("yolov4-tiny", size=96, conf=0.9)
    assert det.classes == 80 and det.names[0] == "person" and (det.width, det.height) == (96, 96)
    res = det.predict(np.zeros((50, 70, 3), np.uint8))[0]
    assert res.image_size == (50, 70)


def test_unflatten_outputs_inverts_flatten_outputs():
    outs = [torch.randn(2, 3, 4, 5, 7), torch.randn(2, 2, 8, 10, 7)]
    pred = flatten_outputs(outs)
    back = unflatten_outputs(pred, [(3, 4, 5), (2, 8, 10)])
    assert all(torch.equal(a, b) for a, b in zip(outs, back))
    with pytest.raises(ValueError, match="rows"):
        unflatten_outputs(pred, [(3, 4, 5)])
