"""Export: ONNX Runtime and TorchScript equal eager PyTorch (<= 1e-4, on a second input too);
Darknet .cfg + .weights load in OpenCV DNN with equal outputs; the CLI writes each format."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from yolov4.cli import main
from yolov4.darknet.cfg import parse_cfg_text
from yolov4.darknet.graph import Darknet
from yolov4.export.darknet import export_darknet
from yolov4.export.module import ExportModule
from yolov4.export.onnx import export_onnx
from yolov4.export.torchscript import export_torchscript
from yolov4.ops.nms import hard_nms
from yolov4.postprocess import flatten_outputs
from test_predict import TINY_CFG

ort = pytest.importorskip("onnxruntime")


def _random_net(seed=0):
    torch.manual_seed(seed)
    net = Darknet.from_cfg(parse_cfg_text(TINY_CFG))
    for m in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dynamic", [False, True])
def test_onnx_matches_eager(tmp_path, dynamic):
    net = _random_net()
    net.fuse()
    path = export_onnx(net, tmp_path / "m.onnx", (64, 64), dynamic=dynamic)
    sess = _session(path)
    inputs = [torch.rand(1, 3, 64, 64), torch.rand(3, 3, 64, 64)]  # second input, other batch
    if dynamic:
        inputs.append(torch.rand(2, 3, 96, 128))  # other size
    for x in inputs:
        with torch.no_grad():
            ref = flatten_outputs(net(x)).numpy()
        got = sess.run(None, {"images": x.numpy()})[0]
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-4


def _nms_reference(pred, conf, iou):
    """Darknet's rule + per-class greedy NMS (yolov4.ops.nms) per image, as sorted tuples."""
    rows = []
    for b in range(pred.shape[0]):
        p = pred[b]
        h, w = 64, 64
        boxes = torch.cat([p[:, :2] - p[:, 2:4] / 2, p[:, :2] + p[:, 2:4] / 2], 1) * torch.tensor(
            [w, h, w, h])
        probs = p[:, 4:5] * p[:, 5:] * (p[:, 4:5] > conf)
        n, c = torch.nonzero(probs > conf, as_tuple=True)
        keep = hard_nms(boxes[n], probs[n, c], iou, c)
        for k in keep.tolist():
            rows.append((b, int(c[k]), *boxes[n[k]].tolist(), float(probs[n[k], c[k]])))
    return sorted(rows)


def test_onnx_with_nms_matches_eager(tmp_path):
    net = _random_net(1)
    net.fuse()
    conf, iou = 0.22, 0.45  # random weights: scores 0.06 .. 0.27
    path = export_onnx(net, tmp_path / "nms.onnx", (64, 64), with_nms=True, conf=conf, iou=iou)
    sess = _session(path)
    for x in (torch.rand(1, 3, 64, 64), torch.rand(2, 3, 64, 64)):
        with torch.no_grad():
            exp = _nms_reference(flatten_outputs(net(x)), conf, iou)
            eager = ExportModule(net, with_nms=True, conf=conf, iou=iou)(x)
        got = sess.run(None, {"images": x.numpy()})[0]
        assert len(exp) > 0 and got.shape == (len(exp), 7) and eager.shape == (len(exp), 7)
        for out in (got, eager.numpy()):
            rows = sorted((int(r[0]), int(r[6]), *r[1:5].tolist(), float(r[5])) for r in out)
            for a, e in zip(rows, exp):
                assert a[:2] == e[:2]
                assert np.allclose(a[2:], e[2:], atol=1e-4)


def test_torchscript_matches_eager(tmp_path):
    net = _random_net(2)
    net.fuse()
    path = export_torchscript(net, tmp_path / "m.torchscript.pt", (64, 64))
    ts = torch.jit.load(path)
    for x in (torch.rand(1, 3, 64, 64), torch.rand(2, 3, 64, 64)):
        with torch.no_grad():
            assert torch.allclose(ts(x), flatten_outputs(net(x)), atol=1e-4)


def test_darknet_export_loads_in_opencv(tmp_path):
    net = _random_net(3)
    cfg, weights = export_darknet(net, tmp_path / "tiny")
    cvnet = cv2.dnn.readNetFromDarknet(cfg, weights)
    x = torch.rand(1, 3, 64, 64)
    cvnet.setInput(x.numpy())
    cv_rows = np.concatenate(cvnet.forward(cvnet.getUnconnectedOutLayersNames()))
    with torch.no_grad():
        ours = flatten_outputs(net(x))[0].numpy()
    # OpenCV rows: cx, cy, w, h, obj, obj * p_c (zeroed below its internal 0.2 threshold)
    assert cv_rows.shape == ours.shape
    assert np.abs(cv_rows[:, :5] - ours[:, :5]).max() <= 1e-4
    scored = ours[:, 4:5] * ours[:, 5:]
    nz = cv_rows[:, 5:] > 0
    assert nz.any() and np.abs(cv_rows[:, 5:][nz] - scored[nz]).max() <= 1e-4
    # and reloading our own export gives the same network
    again = Darknet.from_cfg(cfg)
    again.load_weights(weights)
    with torch.no_grad():
        assert torch.allclose(flatten_outputs(again.eval()(x))[0], torch.from_numpy(ours), atol=1e-6)


def test_export_cli(tmp_path, capsys):
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(TINY_CFG)
    assert main(["export", "--model", str(cfg), "--format", "onnx", "--dynamic",
                 "--out", str(tmp_path / "a.onnx")]) == 0
    assert (tmp_path / "a.onnx").stat().st_size > 0
    assert main(["export", "--model", str(cfg), "--format", "torchscript",
                 "--out", str(tmp_path / "a.pt")]) == 0
    assert main(["export", "--model", str(cfg), "--format", "darknet",
                 "--out", str(tmp_path / "dk")]) == 0
    assert (tmp_path / "dk.cfg").exists() and (tmp_path / "dk.weights").exists()
    capsys.readouterr()


def test_export_openvino_missing_package_is_one_line(tmp_path, capsys, monkeypatch):
    import sys
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text(TINY_CFG)
    monkeypatch.setitem(sys.modules, "openvino", None)  # import fails as if not installed
    assert main(["export", "--model", str(cfg), "--format", "openvino"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'yolov4[openvino]'" in err and "Traceback" not in err


def test_exp_mish_equals_mish():
    from yolov4.export.module import exp_mish
    x = torch.cat([torch.linspace(-100, 100, 100001), torch.tensor([0.0, 20.0, 88.0, 1e30])])
    ref = torch.nn.functional.mish(x.double())
    err = (exp_mish(x).double() - ref).abs() / ref.abs().clamp(min=1e-6)
    assert err.max().item() < 1e-5


@pytest.mark.parametrize("form", ["exp", "softplus"])
def test_onnx_mish_forms_match_eager(tmp_path, form):
    import onnx
    torch.manual_seed(0)
    net = Darknet.from_cfg(parse_cfg_text(TINY_CFG.replace("activation=leaky", "activation=mish")))
    net.eval().fuse()
    path = export_onnx(net, tmp_path / "m.onnx", (64, 64), mish=form)
    ops = {n.op_type for n in onnx.load(path).graph.node}  # (the box decode has an Exp too)
    assert ("Softplus" in ops) == ("Tanh" in ops) == (form == "softplus")
    x = torch.randn(2, 3, 64, 64) * 3  # pre-activations over a wide range
    with torch.no_grad():
        ref = flatten_outputs(net(x)).numpy()
    got = _session(path).run(None, {"images": x.numpy()})[0]
    assert np.abs(got - ref).max() <= 1e-4 + 1e-5 * np.abs(ref).max()
    with torch.no_grad():  # the export left the module's own Mish in place
        assert np.array_equal(flatten_outputs(net(x)).numpy(), ref)
