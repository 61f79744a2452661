"""One evaluation driver: training's mAP equals ``yolov4 val`` on the saved files, and ``val``
runs the engine it is given (an OpenVINO int8 model is evaluated by OpenVINO, not by torch)."""
from __future__ import annotations

import pytest
import torch

import yolov4
from test_train_helpers import SquaresDataset, tiny_cfg

QUIET = dict(verbose=False, plots=0, log=lambda s: None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny cfg overfit on four images of squares (recipe=darknet: the cfg's SGD at lr .005),
    validated on six other images of 80x80 (resized to the network's 64: the pre-processing
    matters) with conf .05, NMS .45."""
    tmp = tmp_path_factory.mktemp("driver")
    cfg = tiny_cfg(tmp / "tiny.cfg", lr=0.005, iou_loss="ciou", iou_normalizer=0.07)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        val_set = SquaresDataset(6, seed=5, size=80, prefix="val")
        res = yolov4.train(data=(SquaresDataset(4), val_set), model=str(cfg), out=tmp / "run",
                           max_batches=40, eval_interval=0, bn_momentum=0.1, conf_thresh=0.05,
                           nms_thresh=0.45, recipe="darknet", **QUIET)
    finally:
        torch.set_num_threads(n)
    return res, val_set


def test_training_map_equals_val_on_the_saved_files(trained):
    res, val_set = trained
    assert 0.05 < res.metrics["darknet.mAP50"]       # it learnt something to compare
    m = yolov4.val(val_set, model=str(res.cfg), weights=str(res.weights), conf=0.05, iou=0.45,
                   verbose=False)
    # (training's old loader, cv2 resize, gave coco.AP 0.1115 here against val's 0.1244)
    for key in ("darknet.mAP50", "coco.AP", "coco.AP50", "coco.AR100"):
        # the saved model is BN-fused, training's is not: scores differ by float rounding only
        assert m[key] == pytest.approx(res.metrics[key], abs=1e-6), key


def test_training_log_names_the_val_command(tmp_path):
    lines = []
    cfg = tiny_cfg(tmp_path / "tiny.cfg")
    yolov4.train(data=(SquaresDataset(4), SquaresDataset(2, seed=4)), model=str(cfg),
                 out=tmp_path / "run", max_batches=1, eval_interval=0, conf_thresh=0.05,
                 verbose=False, plots=0, log=lines.append)
    note = [s for s in lines if s.startswith("validation:")]
    assert note and "`yolov4 val --conf 0.05 --iou 0.45`" in note[0], lines


def test_val_runs_the_openvino_engine(trained, monkeypatch):
    pytest.importorskip("openvino")
    from yolov4.runtime import openvino as ov

    res, val_set = trained
    calls = []
    real = ov.OpenVinoRunner.__call__

    def spy(self, x):
        calls.append(tuple(x.shape))
        return real(self, x)

    monkeypatch.setattr(ov.OpenVinoRunner, "__call__", spy)
    kw = dict(model=str(res.cfg), weights=str(res.weights), conf=0.05, iou=0.45, verbose=False,
              batch_size=2)
    torch_m = yolov4.val(val_set, **kw)
    assert not calls
    ov_m = yolov4.val(val_set, engine="openvino", **kw)
    assert len(calls) == 3                               # 6 images in batches of 2
    # fp32 OpenVINO: the same detections up to float rounding
    assert ov_m["darknet.mAP50"] == pytest.approx(torch_m["darknet.mAP50"], abs=1e-3)


def test_val_int8_openvino_reports_the_int8_model(trained, monkeypatch, tmp_path):
    """``val(engine="openvino", calibration=...)`` evaluates the int8 model: its runner is int8
    and the network outputs it scores are not the fp32 ones."""
    pytest.importorskip("nncf")
    import cv2
    from yolov4.runtime import openvino as ov

    res, val_set = trained
    images = tmp_path / "calib"
    images.mkdir()
    for s in val_set.samples:
        cv2.imwrite(str(images / s.path), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
    seen = {}
    real = ov.OpenVinoRunner.__call__

    def spy(self, x):
        out = real(self, x)
        seen.setdefault(self.precision, []).append([t.detach().clone() for t in out])
        return out

    monkeypatch.setattr(ov.OpenVinoRunner, "__call__", spy)
    kw = dict(model=str(res.cfg), weights=str(res.weights), conf=0.05, iou=0.45, verbose=False,
              batch_size=2, engine="openvino")
    yolov4.val(val_set, **kw)
    yolov4.val(val_set, calibration=str(images), **kw)
    assert set(seen) == {"fp32", "int8"} and len(seen["int8"]) == 3
    diff = max(float((a - b).abs().max()) for fa, fb in zip(seen["fp32"], seen["int8"])
               for a, b in zip(fa, fb))
    assert diff > 1e-4, "the int8 run returned the fp32 outputs"
