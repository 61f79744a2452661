"""ONNX export (dynamic batch, optional dynamic input size, optional decode + NMS in the graph).

The graph is :class:`yolov4.export.module.ExportModule` traced with the TorchScript-based
exporter (``dynamo=False``; the dynamo exporter needs ``onnxscript``). Input ``images:
float32[B, 3, H, W]`` RGB in [0, 1]; output ``predictions: float32[B, N, 5 + C]`` or, with
``with_nms``, ``detections: float32[K, 7]`` (see the module's docstring).
"""
from __future__ import annotations

import os
import warnings
from typing import Tuple, Union

import torch
from torch import nn

from ..errors import YoloError
from .module import ExportModule, mish_form

PathLike = Union[str, "os.PathLike[str]"]


def export_onnx(net: nn.Module, path: PathLike, size: Tuple[int, int], *, dynamic: bool = False,
                with_nms: bool = False, conf: float = 0.25, iou: float = 0.45,
                max_det: int = 300, opset: int = 17, mish: str = "exp") -> str:
    """Write ``net`` as ONNX.

    Args:
        net: a ``Darknet`` (fused or not) in eval mode.
        size: input ``(width, height)`` of the example (and the fixed size unless ``dynamic``).
        dynamic: make height and width dynamic too (batch is always dynamic).
        with_nms: include score filter + per-class greedy NMS (``NonMaxSuppression``).
        conf, iou, max_det: NMS settings baked into the graph (``max_det`` per class).
        mish: how Mish is written: ``"exp"`` (Clip, Exp and arithmetic; 5-6x faster than the
            alternative in ONNX Runtime) or ``"softplus"`` (Softplus -> Tanh -> Mul, which
            runtimes with a Mish kernel match; OpenVINO fuses it). Both equal ``F.mish``
            within 1e-6 relative.
    Returns:
        the written path.
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError as err:  # pragma: no cover
        raise YoloError("ONNX export needs the 'onnx' package") from err
    w, h = int(size[0]), int(size[1])
    module = ExportModule(net, with_nms=with_nms, conf=conf, iou=iou, max_det=max_det).eval()
    example = torch.zeros(1, 3, h, w)
    out_name = "detections" if with_nms else "predictions"
    axes = {"images": {0: "batch"}}
    if dynamic:
        axes["images"].update({2: "height", 3: "width"})
    axes[out_name] = {0: "num_detections"} if with_nms else {0: "batch", 1: "boxes"}
    p = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    with warnings.catch_warnings(), mish_form(net, mish):
        warnings.simplefilter("ignore")  # tracer warnings about shape-to-int conversions
        torch.onnx.export(module, (example,), p, input_names=["images"], output_names=[out_name],
                          dynamic_axes=axes, opset_version=opset, dynamo=False,
                          do_constant_folding=True, autograd_inlining=False)
    return p
