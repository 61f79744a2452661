"""Darknet export: a ``.cfg`` and a ``.weights`` file that Darknet and OpenCV DNN load."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Tuple, Union

from torch import nn

from ..errors import YoloError

PathLike = Union[str, "os.PathLike[str]"]


def export_darknet(net: nn.Module, path: PathLike) -> Tuple[str, str]:
    """Write ``<path>.cfg`` and ``<path>.weights`` (``path`` may end in either suffix).

    The network must not be fused (Darknet weights carry BatchNorm separately).
    Returns ``(cfg_path, weights_path)``.
    """
    if getattr(net, "fused", False):
        raise YoloError("a fused network cannot be exported as Darknet weights; export the "
                        "unfused model")
    base = Path(os.fspath(path))
    if base.suffix in (".cfg", ".weights"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    cfg, weights = str(base) + ".cfg", str(base) + ".weights"
    net.save_cfg(cfg)
    net.save_weights(weights)
    return cfg, weights
