"""Detections of the shared COCO weights equal OpenCV DNN's on Darknet's demo photos.

Oracle: ``cv2.dnn.readNetFromDarknet`` on the same cfg/weights, input from
``cv2.dnn.blobFromImage`` (so pre-processing is OpenCV's own), candidates obj > conf and
obj * p_c > conf per class, OpenCV's ``NMSBoxes`` per class at the same thresholds.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from yolov4.predict import Detector

CONF, IOU = 0.25, 0.45
MODELS = ("yolov4-tiny", "yolov3-tiny")


def opencv_detections(net, image_bgr, size, blob=None):
    h, w = image_bgr.shape[:2]
    if blob is None:
        blob = cv2.dnn.blobFromImage(image_bgr, 1 / 255.0, size, swapRB=True, crop=False)
    net.setInput(blob)
    rows = np.concatenate(net.forward(net.getUnconnectedOutLayersNames()))
    out = []
    for c in range(rows.shape[1] - 5):
        sel = rows[(rows[:, 4] > CONF) & (rows[:, 5 + c] > CONF)]
        if not len(sel):
            continue
        boxes = [[(r[0] - r[2] / 2) * w, (r[1] - r[3] / 2) * h, r[2] * w, r[3] * h] for r in sel]
        scores = [float(r[5 + c]) for r in sel]
        for i in np.array(cv2.dnn.NMSBoxes(boxes, scores, CONF, IOU)).flatten():
            x, y, bw, bh = boxes[i]
            box = np.clip([x, y, x + bw, y + bh], 0, [w, h, w, h])
            out.append((c, scores[i], box))
    return sorted(out, key=lambda d: (d[0], -d[1]))


@pytest.fixture(scope="module", params=MODELS)
def pair(request, shared_darknet):
    cfg = shared_darknet / "weights" / f"{request.param}.cfg"
    weights = shared_darknet / "weights" / f"{request.param}.weights"
    det = Detector(str(cfg), str(weights), conf=CONF, iou=IOU, nms="greedy", resize="opencv",
                   letterbox=False)
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    return request.param, det, net


def test_detections_equal_opencv_dnn(pair, shared_darknet):
    name, det, net = pair
    images = sorted((shared_darknet / "images").glob("*.jpg"))
    assert images
    for path in images:
        bgr = cv2.imread(str(path))
        exp = opencv_detections(net, bgr, (det.width, det.height))
        got = det.predict(str(path))[0]
        ours = sorted(zip(got.class_ids.tolist(), got.scores.tolist(), got.boxes.numpy()),
                      key=lambda d: (d[0], -d[1]))
        assert [d[0] for d in ours] == [d[0] for d in exp], f"{name} {path.name}: classes differ"
        for (c, s, b), (_, es, eb) in zip(ours, exp):
            assert abs(s - es) <= 1e-3, f"{name} {path.name} class {c}: score {s} vs {es}"
            assert np.abs(b - eb).max() <= 1.0, f"{name} {path.name} class {c}: {b} vs {eb}"
        if path.name == "dog.jpg":  # the same image as a BGR array gives the same detections
            arr = det.predict(bgr)[0]
            assert arr.class_ids.tolist() == got.class_ids.tolist()
            assert np.allclose(arr.boxes.numpy(), got.boxes.numpy(), atol=1e-4)


def test_darknet_resize_pipeline_equals_opencv_on_same_input(pair, shared_darknet):
    """The default (Darknet bilinear) pre-processing: OpenCV DNN gets our input tensor."""
    from yolov4.preprocess import load_image, preprocess

    name, det, net = pair
    path = shared_darknet / "images" / "dog.jpg"
    x, _ = preprocess(load_image(path), (det.width, det.height), resize_kind="darknet")
    exp = opencv_detections(net, cv2.imread(str(path)), None, blob=x[None].numpy())
    det.resize = "darknet"
    try:
        got = det.predict(str(path))[0]
    finally:
        det.resize = "opencv"
    ours = sorted(zip(got.class_ids.tolist(), got.scores.tolist(), got.boxes.numpy()),
                  key=lambda d: (d[0], -d[1]))
    assert [d[0] for d in ours] == [d[0] for d in exp], name
    for (c, s, b), (_, es, eb) in zip(ours, exp):
        assert abs(s - es) <= 1e-3 and np.abs(b - eb).max() <= 1.0, (name, c)


def test_dog_shows_dog_bicycle_and_vehicle(shared_darknet):
    for name in MODELS:
        cfg = shared_darknet / "weights" / f"{name}.cfg"
        det = Detector(str(cfg), str(cfg.with_suffix(".weights")))  # cfg defaults (Darknet)
        labels = set(det.predict(str(shared_darknet / "images" / "dog.jpg"))[0].labels)
        assert {"dog", "bicycle"} <= labels and labels & {"car", "truck"}, (name, labels)
