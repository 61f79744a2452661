"""OpenVINO IR export (``.xml`` + ``.bin``): :func:`export_openvino`.

The model goes through our ONNX export and OpenVINO's ONNX reader
(:func:`yolov4.runtime.openvino.to_openvino`), so the IR has the input
``images: float32[B, 3, H, W]`` (RGB, [0, 1]) and the output ``predictions: float32[B, N, 5 + C]``
(or ``detections[K, 7]`` with ``with_nms``); ``calibration`` images make it int8
(:func:`yolov4.runtime.openvino.quantize_int8`, optional package ``nncf``).

Moved (issue 13): the runner and its helpers now live in :mod:`yolov4.runtime.openvino`;
``OpenVinoRunner``, ``load_calibration``, ``head_grids``, ``require_openvino``,
``to_openvino``, ``quantize_int8`` and ``PRECISIONS`` are re-exported here so existing imports
keep working.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

from torch import Tensor, nn

from ..runtime.openvino import (PRECISIONS, OpenVinoRunner,  # noqa: F401 (re-exported)
                                head_grids, load_calibration, quantize_int8,
                                require_openvino, to_openvino)

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["export_openvino", "OpenVinoRunner", "load_calibration", "head_grids",
           "require_openvino", "to_openvino", "quantize_int8", "PRECISIONS"]


def export_openvino(net: nn.Module, path: PathLike, size: Tuple[int, int], *,
                    dynamic: bool = False, with_nms: bool = False, conf: float = 0.25,
                    iou: float = 0.45, max_det: int = 300,
                    calibration: Optional[Sequence[Tensor]] = None) -> Tuple[str, str]:
    """Write ``net`` as OpenVINO IR; returns ``(xml, bin)`` paths.

    ``path`` may end in ``.xml`` or have no suffix (``.xml``/``.bin`` are added). Weights are
    fp32 (the precision used at run time is chosen when the IR is compiled,
    ``INFERENCE_PRECISION_HINT``), or int8 when ``calibration`` inputs are given
    (:func:`quantize_int8`).
    """
    ov = require_openvino()
    model = to_openvino(net, size, dynamic=dynamic, with_nms=with_nms, conf=conf, iou=iou,
                        max_det=max_det)
    if calibration is not None:
        model = quantize_int8(model, calibration)
    p = Path(os.fspath(path))
    xml = p if p.suffix == ".xml" else p.with_name(p.name + ".xml")
    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return str(xml), str(xml.with_suffix(".bin"))

