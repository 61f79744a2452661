"""Runners: one call contract for every inference engine, and the choice of engine.

A runner is a callable ``runner(batch) -> outputs``:

- ``batch``: ``Tensor[B, 3, H, W]`` float32, RGB in [0, 1] (the pre-processed images), on any
  device (the runner moves it to its own);
- ``outputs``: one decoded ``Tensor[B, A, h, w, 5 + C]`` float32 per [yolo] layer, as
  ``Darknet`` returns them in eval mode: ``cx, cy, w, h`` as fractions of the input,
  objectness, class probabilities (what :func:`yolov4.postprocess.postprocess` consumes).

:class:`TorchRunner` runs a PyTorch network (plain, or as prepared by
:func:`yolov4.runtime.optimize.optimize_for_inference`, which returns one); the OpenVINO engine
is :class:`yolov4.runtime.openvino.OpenVinoRunner`. :func:`make_runner` builds the runner of a
``Detector``'s engine options; :func:`check_engine_options` validates them before any network
is loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Protocol, Tuple, Union

import torch
from torch import Tensor, nn

from ..errors import YoloError

#: Inference engines of :func:`make_runner` (and ``Detector``).
ENGINES = ("torch", "openvino")


class Runner(Protocol):
    """What a ``Detector`` calls: ``Tensor[B, 3, H, W]`` float32 -> list of float32 decoded
    ``Tensor[B, A, h, w, 5 + C]`` (see the module docstring)."""

    def __call__(self, batch: Tensor) -> List[Tensor]:
        ...


@dataclass
class TorchRunner:
    """A PyTorch network behind the runner contract.

    Attributes:
        net: the network (eval mode), called as ``net(x)``.
        channels_last: feed it channels-last inputs (set by ``optimize_for_inference``).
        input_dtype: the dtype of its first layer (``torch.bfloat16`` after ``bf16``).
        device: where it runs; None (default): the device of its parameters.
    """

    net: nn.Module
    channels_last: bool = False
    input_dtype: torch.dtype = torch.float32
    device: Optional[torch.device] = None

    def __post_init__(self) -> None:
        if self.device is None:
            self.device = next(self.net.parameters(), torch.empty(0)).device
        self.device = torch.device(self.device)

    def __call__(self, batch: Tensor) -> List[Tensor]:
        """``Tensor[B, 3, H, W]`` float32 -> one float32 ``Tensor[B, A, h, w, 5 + C]`` per
        [yolo] layer; the input is converted to the network's device, dtype and layout and
        run under ``torch.inference_mode``."""
        layout = torch.channels_last if self.channels_last else torch.preserve_format
        with torch.inference_mode():
            x = batch.to(device=self.device, dtype=self.input_dtype, memory_format=layout)
            return [o.float() for o in self.net(x)]


def check_engine_options(engine: str, device: Union[str, torch.device] = "cpu", *,
                         optimize: bool = False, bf16: bool = False,
                         calibration: Any = None) -> None:
    """Raise :class:`~yolov4.errors.YoloError` for engine options that do not go together
    (cheap: call it before loading a network). See :func:`make_runner` for the options."""
    if engine not in ENGINES:
        raise YoloError(f"engine must be one of {ENGINES}, got '{engine}'")
    if engine == "openvino" and (torch.device(device).type != "cpu" or optimize):
        raise YoloError("engine 'openvino' runs on the CPU and replaces optimize=True; "
                        "drop device/optimize")
    if calibration is not None and (engine != "openvino" or bf16):
        raise YoloError("calibration images select OpenVINO int8: use engine='openvino' "
                        "without bf16")
    if bf16 and engine != "openvino" and not optimize:
        raise YoloError("bf16 inference needs optimize=True (--optimize) or engine='openvino' "
                        "(--engine openvino)")


def make_runner(net: nn.Module, engine: str = "torch", size: Tuple[int, int] = (416, 416), *,
                optimize: bool = False, bf16: bool = False, calibration: Any = None,
                letterbox: bool = False, resize: str = "darknet") -> Runner:
    """The runner of ``net`` (a fused ``Darknet`` in eval mode, already on its device) for
    one engine choice:

    - ``engine="torch"``: :class:`TorchRunner` of the network as it is; with ``optimize`` the
      CPU speed-ups of :func:`~yolov4.runtime.optimize.optimize_for_inference` (applied to
      ``net`` in place, tuned for ``size``), in bfloat16 with ``bf16``;
    - ``engine="openvino"``: :class:`~yolov4.runtime.openvino.OpenVinoRunner` compiled for
      ``size`` at fp32, bf16 (``bf16``) or int8 (``calibration``: images — a path, directory,
      glob or list of paths — pre-processed with ``letterbox``/``resize`` like inference).

    Args:
        size: the input ``(width, height)`` every batch will have.
    Raises:
        YoloError: options that do not go together (:func:`check_engine_options`), bf16 on a
            CPU without bf16 kernels, OpenVINO (or ``nncf`` for int8) not installed.
    """
    device = next(net.parameters(), torch.empty(0)).device
    check_engine_options(engine, device, optimize=optimize, bf16=bf16, calibration=calibration)
    w, h = int(size[0]), int(size[1])
    if engine == "openvino":
        from .openvino import OpenVinoRunner, load_calibration  # optional dependency

        calib = None
        if calibration is not None:
            calib = load_calibration(calibration, (w, h), letterbox=letterbox,
                                     resize_kind=resize)
        precision = "int8" if calib else ("bf16" if bf16 else "fp32")
        return OpenVinoRunner(net, (w, h), calibration=calib, precision=precision)
    if optimize:
        from .optimize import optimize_for_inference  # imports this module: load it on demand

        return optimize_for_inference(net, torch.rand(1, 3, h, w, device=device), bf16=bf16)
    return TorchRunner(net, device=device)
