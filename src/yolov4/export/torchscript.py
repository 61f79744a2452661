"""TorchScript export: the traced :class:`yolov4.export.module.ExportModule` saved with
``torch.jit.save`` (input ``Tensor[B, 3, H, W]`` RGB [0, 1]; output as the ONNX export)."""
from __future__ import annotations

import os
import warnings
from typing import Tuple, Union

import torch
from torch import nn

from .module import ExportModule

PathLike = Union[str, "os.PathLike[str]"]


def export_torchscript(net: nn.Module, path: PathLike, size: Tuple[int, int]) -> str:
    """Trace and save ``net`` (a ``Darknet``) with its decode; returns the path.

    The batch size is free; other input sizes work where the network's layers allow it. NMS is
    not included (a trace cannot hold its data-dependent loop): run
    ``yolov4.postprocess`` on the output, or export ONNX ``with_nms``.
    """
    w, h = int(size[0]), int(size[1])
    module = ExportModule(net).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, torch.zeros(1, 3, h, w), check_trace=False)
    p = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    torch.jit.save(traced, p)
    return p
