"""The runner contract of ``yolov4.runtime`` (issue 13): ``TorchRunner`` equals calling the
network, ``optimize_for_inference`` returns a runner instead of setting attributes on the
network, ``make_runner`` picks and validates the engine, the old import paths still give the
same objects, and the low-level packages never import the runtime (or anything above them)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from yolov4.darknet.cfg import parse_cfg_text
from yolov4.darknet.graph import Darknet
from yolov4.errors import YoloError
from yolov4.runtime.optimize import optimize_for_inference
from yolov4.runtime.runner import TorchRunner, check_engine_options, make_runner
from test_predict import TINY_CFG

SRC = Path(__file__).resolve().parents[1] / "src" / "yolov4"


def _net(act: str = "mish") -> Darknet:
    torch.manual_seed(0)
    return Darknet.from_cfg(parse_cfg_text(TINY_CFG.replace("activation=leaky",
                                                            f"activation={act}"))).eval().fuse()


def test_torch_runner_equals_the_network():
    net = _net()
    runner = TorchRunner(net)
    assert runner.device == torch.device("cpu") and runner.input_dtype == torch.float32
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        ref = net(x)
    got = runner(x)
    assert len(got) == len(ref)
    for r, g in zip(ref, got):
        assert g.dtype == torch.float32 and torch.equal(g, r)
    assert not torch.is_inference_mode_enabled()


def test_optimize_returns_a_runner_and_leaves_no_attributes():
    plain, net = _net(), _net()
    runner = optimize_for_inference(net, torch.rand(1, 3, 64, 96), winograd=False)
    assert isinstance(runner, TorchRunner) and runner.net is net
    assert runner.channels_last and runner.input_dtype == torch.float32
    assert not hasattr(net, "channels_last") and not hasattr(net, "input_dtype")
    x = torch.rand(2, 3, 64, 96)  # NCHW float32 in: the runner converts the layout
    with torch.no_grad():
        ref = plain(x)
    for r, g in zip(ref, runner(x)):
        assert g.dtype == torch.float32 and torch.allclose(g, r, atol=1e-5)


def test_make_runner_torch_engines():
    net = _net()
    runner = make_runner(net, "torch", (96, 64))
    assert isinstance(runner, TorchRunner) and not runner.channels_last and runner.net is net
    opt = make_runner(_net(), "torch", (96, 64), optimize=True)
    assert isinstance(opt, TorchRunner) and opt.channels_last


@pytest.mark.parametrize("kwargs,message", [
    (dict(engine="tensorrt"), "engine must be one of"),
    (dict(engine="openvino", optimize=True), "engine 'openvino' runs on the CPU"),
    (dict(engine="openvino", device="cuda"), "engine 'openvino' runs on the CPU"),
    (dict(engine="torch", calibration="images/"), "calibration images select OpenVINO int8"),
    (dict(engine="openvino", bf16=True, calibration="images/"), "calibration images select"),
    (dict(engine="torch", bf16=True), "bf16 inference needs optimize=True"),
])
def test_engine_options_are_checked(kwargs, message):
    engine = kwargs.pop("engine")
    with pytest.raises(YoloError, match=message):
        check_engine_options(engine, **kwargs)


def test_old_import_paths_give_the_same_objects():
    import yolov4.export.openvino as export_ov
    import yolov4.optimize as old
    import yolov4.runtime.openvino as runtime_ov
    from yolov4.runtime import mish, packed, routes

    assert old.optimize_for_inference is optimize_for_inference
    assert old.FastMish is mish.FastMish and old.fast_mish is mish.fast_mish
    assert old.PackedConv2d is packed.PackedConv2d
    assert old.plan_inplace_routes is routes.plan_inplace_routes
    for name in ("OpenVinoRunner", "load_calibration", "head_grids", "require_openvino"):
        assert getattr(export_ov, name) is getattr(runtime_ov, name)


def _imports(path: Path, package: str):
    """Absolute module names imported anywhere in ``path`` (lazy imports included)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module or ""


@pytest.mark.parametrize("sub", ["ops", "layers", "darknet"])
def test_low_level_packages_do_not_import_upward(sub):
    """``ops``, ``layers`` and ``darknet`` import only each other and ``yolov4.errors`` (a leaf
    module): never ``yolov4.runtime`` nor the package-root modules built on them."""
    allowed = ("yolov4.ops", "yolov4.layers", "yolov4.darknet", "yolov4.errors")
    for path in sorted((SRC / sub).glob("*.py")):
        for name in _imports(path, f"yolov4.{sub}"):
            if name == "yolov4" or name.startswith("yolov4."):
                assert name == allowed[0] or name.startswith(allowed), f"{path.name}: {name}"


def test_ops_holds_only_boxes_and_nms():
    assert sorted(p.name for p in (SRC / "ops").glob("*.py")) == \
        ["__init__.py", "boxes.py", "nms.py"]
