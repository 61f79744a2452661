"""OpenVINO engine: the runner equals eager PyTorch (fp32, <= 1e-4) per [yolo] output, the IR
written by ``export_openvino`` equals ONNX Runtime on the same ONNX graph (with and without NMS),
and ``Detector(engine="openvino")`` gives the torch engine's detections on the shared photos
with the COCO yolov4-tiny weights (same classes, boxes within 1 px, scores within 1e-3)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolov4.cli import main
from yolov4.darknet.cfg import parse_cfg_text
from yolov4.darknet.graph import Darknet
from yolov4.errors import YoloError
from yolov4.export.onnx import export_onnx
from yolov4.export.openvino import export_openvino
from yolov4.runtime.openvino import OpenVinoRunner
from yolov4.predict import Detector
from test_export import _random_net
from test_predict import TINY_CFG

ov = pytest.importorskip("openvino")


def test_runner_matches_eager_per_head():
    net = _random_net()
    net.fuse()
    runner = OpenVinoRunner(net, (96, 64), threads=1)  # not the cfg's size, not square
    for x in (torch.rand(1, 3, 64, 96), torch.rand(3, 3, 64, 96)):  # a second batch size
        with torch.no_grad():
            ref = net(x)
        got = runner(x)
        assert len(got) == len(ref)
        for r, g in zip(ref, got):
            assert g.shape == r.shape
            assert (g - r).abs().max().item() <= 1e-4


def test_runner_rejects_other_input_size():
    net = _random_net().fuse()
    runner = OpenVinoRunner(net, (64, 64), threads=1)
    with pytest.raises(YoloError, match=r"\[B, 3, 64, 64\]"):
        runner(torch.rand(1, 3, 96, 64))
    with pytest.raises(YoloError, match="precision"):
        OpenVinoRunner(net, (64, 64), precision="int4")


@pytest.mark.parametrize("with_nms", [False, True])
def test_ir_equals_onnxruntime(tmp_path, with_nms):
    ort = pytest.importorskip("onnxruntime")
    net = _random_net(1)
    net.fuse()
    onnx_path = export_onnx(net, tmp_path / "m.onnx", (64, 64), with_nms=with_nms, conf=0.2)
    xml, binary = export_openvino(net, tmp_path / "m", (64, 64), with_nms=with_nms, conf=0.2)
    assert xml.endswith("m.xml") and binary.endswith("m.bin")
    compiled = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    ref = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(
        None, {"images": x})[0]
    got = np.asarray(compiled({0: x})[0])
    if with_nms:  # rows (batch, x1, y1, x2, y2, score, class); order may differ
        ref, got = (a[np.lexsort(a.T[::-1])] for a in (ref, got))
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-4


def test_detector_openvino_equals_torch_on_photos(shared_darknet):
    cfg = shared_darknet / "weights" / "yolov4-tiny.cfg"
    weights = cfg.with_suffix(".weights")
    photos = sorted(str(p) for p in (shared_darknet / "images").glob("*.jpg"))
    ref = Detector(str(cfg), str(weights)).predict(photos)
    got = Detector(str(cfg), str(weights), engine="openvino").predict(photos)
    for r, g in zip(ref, got):
        assert sorted(r.labels) == sorted(g.labels), r.path
        order_r, order_g = np.lexsort(r.boxes.numpy().T), np.lexsort(g.boxes.numpy().T)
        assert np.abs(r.boxes.numpy()[order_r] - g.boxes.numpy()[order_g]).max(initial=0) <= 1.0
        assert np.abs(r.scores.numpy()[order_r] - g.scores.numpy()[order_g]).max(initial=0) <= 1e-3
    dog = {"dog", "bicycle"}
    assert dog <= set(next(g for g in got if g.path.endswith("dog.jpg")).labels)


def test_detector_openvino_rejects_cuda_and_optimize():
    net = Darknet.from_cfg(parse_cfg_text(TINY_CFG))
    with pytest.raises(YoloError, match="openvino"):
        Detector(net, engine="openvino", optimize=True)
    with pytest.raises(YoloError, match="engine"):
        Detector(net, engine="tensorrt")


def test_cli_export_and_detect_with_openvino(tmp_path, shared_darknet, capsys):
    cfg = shared_darknet / "weights" / "yolov4-tiny.cfg"
    weights = cfg.with_suffix(".weights")
    assert main(["export", "--model", str(cfg), "--weights", str(weights), "--format",
                 "openvino", "--size", "320", "--out", str(tmp_path / "tiny")]) == 0
    assert (tmp_path / "tiny.xml").exists() and (tmp_path / "tiny.bin").stat().st_size > 20e6
    capsys.readouterr()
    dog = shared_darknet / "images" / "dog.jpg"
    assert main(["detect", str(dog), "--model", str(cfg), "--weights", str(weights),
                 "--engine", "openvino", "--size", "320", "--out", str(tmp_path / "out"),
                 "--save-txt", "--quiet"]) == 0
    lines = (tmp_path / "out" / "labels" / "dog.txt").read_text().split("\n")
    assert {"16", "1"} <= {line.split()[0] for line in lines if line}  # dog, bicycle


def test_int8_detections_agree_with_fp32(shared_darknet, tmp_path):
    pytest.importorskip("nncf")
    cfg = shared_darknet / "weights" / "yolov4-tiny.cfg"
    weights = cfg.with_suffix(".weights")
    images = shared_darknet / "images"
    det = Detector(str(cfg), str(weights), engine="openvino", calibration=str(images))
    assert det.runner.precision == "int8"
    labels = set(det.predict(str(images / "dog.jpg"))[0].labels)
    assert {"dog", "bicycle"} <= labels and labels & {"car", "truck"}, labels
    # the CLI's int8 IR: int8 weights take a quarter of the fp32 file
    assert main(["export", "--model", str(cfg), "--weights", str(weights), "--format",
                 "openvino", "--size", "320", "--calibration", str(images),
                 "--out", str(tmp_path / "q")]) == 0
    assert main(["export", "--model", str(cfg), "--weights", str(weights), "--format",
                 "openvino", "--size", "320", "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "q.bin").stat().st_size < 0.4 * (tmp_path / "f.bin").stat().st_size


def test_int8_needs_calibration_and_openvino():
    net = Darknet.from_cfg(parse_cfg_text(TINY_CFG)).eval()
    with pytest.raises(YoloError, match="calibration"):
        OpenVinoRunner(net, (64, 64), precision="int8")
    with pytest.raises(YoloError, match="calibration"):
        Detector(net, calibration=["x.jpg"])  # torch engine


def test_val_with_openvino_equals_torch(tmp_path):
    """``yolov4 val --engine openvino`` gives the torch engine's detections and metrics (fp32):
    a random-weight model on a small generated dataset, compared through ``--save-preds``."""
    import json

    from yolov4.data.synth import generate
    data = generate(tmp_path / "d", images=6, classes=2, size=64, seed=0, val_fraction=0.5)
    cfg, weights = tmp_path / "m.cfg", tmp_path / "m.weights"
    cfg.write_text(TINY_CFG)
    _random_net(2).save_weights(weights)
    runs = {}
    for engine in ("torch", "openvino"):
        preds = tmp_path / f"{engine}.json"
        args = ["val", "--data", str(data), "--model", str(cfg), "--weights", str(weights),
                "--size", "64", "--save-preds", str(preds), "--quiet", "--engine", engine]
        assert main(args) == 0
        runs[engine] = sorted(json.loads(preds.read_text()),
                              key=lambda d: (d["file_name"], -d["score"], d["category_id"]))
    ref, got = runs["torch"], runs["openvino"]
    assert len(ref) == len(got) > 0
    for r, g in zip(ref, got):
        assert r["file_name"] == g["file_name"] and r["category_id"] == g["category_id"]
        assert abs(r["score"] - g["score"]) <= 1e-4
        assert max(abs(a - b) for a, b in zip(r["bbox"], g["bbox"])) <= 0.01
