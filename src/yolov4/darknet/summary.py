"""The layer table Darknet prints when it loads a network, with parameter count and BFLOPs.

Line formats follow AlexeyAB/darknet's ``make_*_layer`` ``fprintf`` calls (conv, max, route,
Shortcut Layer, upsample, yolo + its ``[yolo] params`` line, ...) and end with
``Total BFLOPS``. BFLOPs are Darknet's: conv ``2·(c/groups)·n·k²·out_h·out_w``, maxpool
``k²·c·out_h·out_w``, shortcut ``c·h·w·len(from)``. Pure Python (no torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

from .cfg import Section
from .shapes import LayerSpec, infer_layers

_IOU_LOSS = {"iou": 0, "giou": 1, "mse": 2, "diou": 3, "ciou": 4}
_WEIGHTS_TYPE = {"none": 0, "per_feature": 1, "per_channel": 2}
_WEIGHTS_NORM = {"none": 0, "relu": 1, "softmax": 2}


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


def _line(sp: LayerSpec) -> List[str]:
    s, p, t = sp.section, sp.params, sp.type
    c, h, w = sp.in_shape
    oc, oh, ow = sp.out_shape
    if t == "convolutional":
        n = p["filters"]
        sy, sx = p["stride"]
        text = "conv  " + (f"{n:5d}/{p['groups']:4d} " if p["groups"] > 1 else f"{n:5d}      ")
        k = p["size"]
        if sx != sy:
            text += f"{k:2d}x{k:2d}/{sx:2d}x{sy:2d} "
        elif p["dilation"] > 1:
            text += f"{k:2d} x{k:2d}/{sx:2d}({p['dilation']:1d})"
        else:
            text += f"{k:2d} x{k:2d}/{sx:2d}   "
        return [text + f"{w:4d} x{h:4d} x{c:4d} -> {ow:4d} x{oh:4d} x{oc:4d} {sp.bflops:5.3f} BF"]
    if t == "maxpool":
        k, (sy, sx) = p["size"], p["stride"]
        if sx == sy:
            head = f"max               {k:2d}x{k:2d}/{sx:2d}   "
        else:
            head = f"max              {k:2d}x{k:2d}/{sx:2d}x{sy:2d} "
        return [head + f"{w:4d} x{h:4d} x{c:4d} -> {ow:4d} x{oh:4d} x{oc:4d} {sp.bflops:5.3f} BF"]
    if t == "route":
        text = "route  " + " ".join(str(j) for j in sp.sources)
        group = f"{p['group_id'] + 1}/{p['groups']}" if p["groups"] > 1 else ""
        return [f"{text:<20s}{group:>18s} -> {ow:4d} x{oh:4d} x{oc:4d} "]
    if t == "shortcut":
        froms = "".join(f"{j}, " for j in sp.sources)
        return [f"Shortcut Layer: {froms} wt = {_WEIGHTS_TYPE[p['weights_type']]}, "
                f"wn = {_WEIGHTS_NORM[p['weights_normalization']]}, "
                f"outputs:{ow:4d} x{oh:4d} x{oc:4d} {sp.bflops:5.3f} BF"]
    if t == "upsample":
        kind = "upsample" if p["stride"] > 0 else "downsample"
        return [f"{kind:<24s}{abs(p['stride']):2d}x  {w:4d} x{h:4d} x{c:4d} -> "
                f"{ow:4d} x{oh:4d} x{oc:4d}"]
    if t == "avgpool":
        return [f"avg                     {w:4d} x{h:4d} x{c:4d} ->   {oc:4d}"]
    if t == "softmax":
        return [f"softmax                                        {c * h * w:4d}"]
    if t == "dropout":
        kind = "dropblock" if s.get_int("dropblock", 0) else "dropout"
        return [f"{kind:<12s}p = {s.get_float('probability', 0.2):.2f} {c * h * w:4d}  ->   "
                f"{oc * oh * ow:4d}"]
    if t == "sam":
        return [f"scale Layer: {sp.sources[0]}   (SAM) -> {ow:4d} x{oh:4d} x{oc:4d}"]
    if t == "scale_channels":
        return [f"scale Layer: {sp.sources[0]}"]
    if t == "reorg3d":
        return [f"reorg                    /{p['stride']:2d} {w:4d} x{h:4d} x{c:4d} -> "
                f"{ow:4d} x{oh:4d} x{oc:4d}"]
    if t == "yolo":
        y = p["settings"]
        return ["yolo",
                f"[yolo] params: iou loss: {y.iou_loss} ({_IOU_LOSS[y.iou_loss]}), "
                f"iou_norm: {y.iou_normalizer:2.2f}, obj_norm: {y.obj_normalizer:2.2f}, "
                f"cls_norm: {y.cls_normalizer:2.2f}, delta_norm: {y.delta_normalizer:2.2f}, "
                f"scale_x_y: {y.scale_x_y:2.2f}"]
    return [t]


def summarize(sections: Sequence[Section], width: Optional[int] = None,
              height: Optional[int] = None) -> Summary:
    """Darknet's load-time table for ``sections`` at ``width x height`` (default: ``[net]``)."""
    specs = infer_layers(sections, width, height)
    lines = ["   layer   filters  size/strd(dil)      input                output"]
    for sp in specs:
        body = _line(sp)
        lines.append(f"{sp.index:4d} {body[0]}")
        lines.extend(body[1:])
    floats = sum(sp.weights for sp in specs)
    running = sum(2 * sp.params["filters"] for sp in specs
                  if sp.type == "convolutional" and sp.params["batch_normalize"])
    bflops = sum(sp.bflops for sp in specs)
    w, h = (specs[0].in_shape[2], specs[0].in_shape[1]) if specs else (0, 0)
    lines.append(f"Total BFLOPS {bflops:5.3f} ")
    return Summary(lines, floats - running, floats, bflops, w, h)
