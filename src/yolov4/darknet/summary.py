"""The layer table Darknet prints when it loads a network, with parameter count and BFLOPs.

Line formats follow AlexeyAB/darknet's ``make_*_layer`` ``fprintf`` calls (conv, max, route,
Shortcut Layer, upsample, yolo + its ``[yolo] params`` line, ...) and end with
``Total BFLOPS``; each type's row is the ``summary`` of its entry in the layer-type table
(:mod:`yolov4.darknet.layer_types`). BFLOPs are Darknet's: conv
``2·(c/groups)·n·k²·out_h·out_w``, maxpool ``k²·c·out_h·out_w``, shortcut ``c·h·w·len(from)``.
Pure Python (no torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

from .cfg import Section
from .layer_types import LAYER_TYPES
from .shapes import infer_layers


@dataclass
class Summary:
    """What ``yolov4 info`` prints.

    Attributes:
        lines: the layer table, one string per line.
        params: trainable parameters (conv weights, biases, BN scales, shortcut weights).
        weights_floats: float32 values in a ``.weights`` file (adds BN rolling mean/variance).
        bflops: total Darknet BFLOPs for one image at ``width x height``.
        width, height: the input size used.
    """

    lines: List[str]
    params: int
    weights_floats: int
    bflops: float
    width: int
    height: int

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def summarize(sections: Sequence[Section], width: Optional[int] = None,
              height: Optional[int] = None) -> Summary:
    """Darknet's load-time table for ``sections`` at ``width x height`` (default: ``[net]``)."""
    specs = infer_layers(sections, width, height)
    lines = ["   layer   filters  size/strd(dil)      input                output"]
    for sp in specs:
        body = LAYER_TYPES[sp.type].summary(sp)
        lines.append(f"{sp.index:4d} {body[0]}")
        lines.extend(body[1:])
    floats = sum(sp.weights for sp in specs)
    bflops = sum(sp.bflops for sp in specs)
    w, h = (specs[0].in_shape[2], specs[0].in_shape[1]) if specs else (0, 0)
    lines.append(f"Total BFLOPS {bflops:5.3f} ")
    return Summary(lines, sum(sp.trainable for sp in specs), floats, bflops, w, h)
