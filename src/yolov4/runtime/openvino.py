"""OpenVINO CPU runner with the ``Darknet`` output contract, and the helpers it shares with
the IR export (:func:`yolov4.export.openvino.export_openvino`).

The model goes through our ONNX export (:func:`yolov4.export.onnx.export_onnx`, the graph of
:class:`yolov4.export.module.ExportModule`) and OpenVINO's ONNX reader (:func:`to_openvino`),
so it has the input ``images: float32[B, 3, H, W]`` (RGB, [0, 1]) and the output
``predictions: float32[B, N, 5 + C]``. OpenVINO fuses the exported Softplus -> Tanh -> Mul
back into one Mish and runs convolutions with its own CPU kernels; with
``precision="bf16"`` (CPUs with AVX512-BF16 or AMX) it computes in bfloat16 and returns fp32;
``precision="int8"`` quantises the model after training with NNCF (optional package ``nncf``):
8-bit weights per channel and activations calibrated on a few images of the target domain
(:func:`quantize_int8`, images read by :func:`load_calibration`).

:class:`OpenVinoRunner` has the call contract of :class:`yolov4.runtime.runner.TorchRunner`:
``Tensor[B, 3, H, W]`` float32 in, one decoded float32 ``Tensor[B, A, h, w, 5 + C]`` per [yolo]
layer out (as ``Darknet`` returns them in eval mode), so :func:`yolov4.postprocess.postprocess`
and the ``Detector`` use it unchanged. ``openvino`` is an optional dependency
(``pip install 'yolov4[openvino]'``).
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import YoloError
from ..export.onnx import export_onnx
from ..postprocess import unflatten_outputs

PRECISIONS = ("fp32", "bf16", "int8")


def require_openvino() -> Any:
    """The ``openvino`` module, or a one-line error saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise YoloError("OpenVINO is an optional dependency that is not installed: "
                        "pip install 'yolov4[openvino]' (or export --format onnx)") from None
    return openvino


def to_openvino(net: nn.Module, size: Tuple[int, int], *, dynamic: bool = False,
                with_nms: bool = False, conf: float = 0.25, iou: float = 0.45,
                max_det: int = 300) -> Any:
    """``net`` (a ``Darknet`` in eval mode) as an in-memory ``openvino.Model``.

    Args:
        size: input ``(width, height)``; fixed unless ``dynamic`` (batch is always dynamic).
        with_nms, conf, iou, max_det: see :func:`yolov4.export.onnx.export_onnx`.
    """
    ov = require_openvino()
    with tempfile.TemporaryDirectory() as tmp:
        # Softplus -> Tanh -> Mul: OpenVINO fuses this pattern into its Mish kernel
        path = export_onnx(net, os.path.join(tmp, "model.onnx"), size, dynamic=dynamic,
                           with_nms=with_nms, conf=conf, iou=iou, max_det=max_det,
                           mish="softplus")
        # read_model copies the weights into the model: the temporary file can go
        return ov.Core().read_model(path)


def quantize_int8(model: Any, calibration: Sequence[Tensor], *, fast_bias_correction: bool = True
                  ) -> Any:
    """Post-training int8 quantisation of an ``openvino.Model`` with NNCF.

    Args:
        model: from :func:`to_openvino`.
        calibration: pre-processed inputs ``Tensor[3, H, W]`` or ``Tensor[1, 3, H, W]`` (RGB,
            [0, 1], at the model's input size); a few dozen images of the target domain are
            typical, the photos of ``../shared`` suffice for the COCO models.
    Returns:
        the quantised ``openvino.Model`` (save it with ``openvino.save_model``).
    """
    try:
        import nncf
    except ImportError:
        raise YoloError("int8 quantisation needs the optional package 'nncf': pip install nncf"
                        ) from None
    items = [x[None] if x.dim() == 3 else x for x in calibration]
    if not items:
        raise YoloError("int8 quantisation needs at least one calibration image")
    data = nncf.Dataset([np.ascontiguousarray(x.float().cpu().numpy()) for x in items])
    return nncf.quantize(model, data, subset_size=len(items),
                         preset=nncf.QuantizationPreset.PERFORMANCE,
                         fast_bias_correction=fast_bias_correction)


def load_calibration(source: Any, size: Tuple[int, int], *, letterbox: bool = False,
                     resize_kind: str = "darknet") -> List[Tensor]:
    """Calibration inputs ``Tensor[3, H, W]`` from images (a path, directory, glob or list of
    paths), pre-processed like inference (``size = (width, height)``). An image that does not
    decode is an error naming the file."""
    from ..preprocess import load_image, preprocess
    from ..sources import resolve_images

    return [preprocess(load_image(p), size, letterbox=letterbox, resize_kind=resize_kind)[0]
            for p in resolve_images(source)]


def head_grids(net: nn.Module, size: Tuple[int, int]) -> List[Tuple[int, int, int]]:
    """``(anchors, rows, cols)`` of every [yolo] output at input ``(width, height)``, in order."""
    w, h = int(size[0]), int(size[1])
    grids = []
    for layer, idx in zip(net.yolo_layers, net.yolo_indices):
        _, rows, cols = net.specs[idx].out_shape          # at the cfg's own input size
        sy, sx = net.height // rows, net.width // cols
        grids.append((int(layer.num_anchors), h // sy, w // sx))
    return grids


class OpenVinoRunner:
    """A ``Darknet`` compiled by OpenVINO for the CPU; call it like ``net(x)`` in eval mode.

    Args:
        net: the ``Darknet`` (eval mode; BatchNorm fused or not).
        size: input ``(width, height)`` every call uses.
        precision: ``fp32``, ``bf16`` (OpenVINO's inference precision; bf16 needs a CPU with
            AVX512-BF16 or AMX, otherwise OpenVINO keeps fp32) or ``int8`` (:func:`quantize_int8`
            with ``calibration``).
        calibration: ``int8`` only: pre-processed inputs ``Tensor[3, H, W]`` at ``size``.
        threads: OpenVINO inference threads (default: the cores this process may use).

    Calling with ``Tensor[B, 3, H, W]`` (fp32, RGB, [0, 1]; H, W equal to ``size``) returns a
    list of ``Tensor[B, A, h, w, 5 + C]``: ``cx, cy, w, h`` as fractions of the input,
    objectness, class probabilities. One compiled model per batch size is kept.
    """

    def __init__(self, net: nn.Module, size: Tuple[int, int], *, precision: str = "fp32",
                 threads: Optional[int] = None,
                 calibration: Optional[Sequence[Tensor]] = None) -> None:
        if precision not in PRECISIONS:
            raise YoloError(f"OpenVINO precision must be one of {PRECISIONS}, got '{precision}'")
        if (precision == "int8") != (calibration is not None):
            raise YoloError("OpenVINO int8 needs calibration images, and only int8 uses them")
        self.ov = require_openvino()
        self.size = (int(size[0]), int(size[1]))
        self.grids = head_grids(net, self.size)
        self.model = to_openvino(net, self.size)
        if precision == "int8":
            self.model = quantize_int8(self.model, list(calibration or []))
        if threads is None:
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
                os.cpu_count() or 1)
        self.config = {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY",
                       "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        self.precision = precision
        self._core = self.ov.Core()
        self._requests: Dict[int, Any] = {}

    def _request(self, batch: int) -> Any:
        req = self._requests.get(batch)
        if req is None:
            model = self.model.clone()
            w, h = self.size
            model.reshape({model.inputs[0].get_any_name(): [batch, 3, h, w]})
            req = self._core.compile_model(model, "CPU", self.config).create_infer_request()
            self._requests[batch] = req
        return req

    def predictions(self, x: Union[Tensor, np.ndarray]) -> np.ndarray:
        """``float32[B, N, 5 + C]``: the flattened decoded rows (the ONNX output)."""
        arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if arr.ndim != 4 or tuple(arr.shape[2:]) != (self.size[1], self.size[0]):
            raise YoloError(f"OpenVINO model compiled for input [B, 3, {self.size[1]}, "
                            f"{self.size[0]}], got {list(arr.shape)}")
        req = self._request(arr.shape[0])
        req.infer({0: arr})
        return np.array(req.get_output_tensor(0).data)  # copy: the request reuses its buffer

    def __call__(self, x: Union[Tensor, np.ndarray]) -> List[Tensor]:
        """The runner contract (:class:`yolov4.runtime.runner.TorchRunner`): ``x``
        ``Tensor[B, 3, H, W]`` float32 (any device) -> one float32 ``Tensor[B, A, h, w, 5 + C]``
        per [yolo] layer."""
        return unflatten_outputs(torch.from_numpy(self.predictions(x)), self.grids)
