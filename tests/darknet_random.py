"""Test helper: temp cfg copies at small sizes and random Darknet weights written with numpy.

The weights writer here is independent of ``yolov4.darknet.weights`` (it only uses the static
shape inference for layer sizes), so OpenCV reading the same file is an independent check of the
layout our reader assumes.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from yolov4.darknet.cfg import read_cfg, write_cfg
from yolov4.darknet.shapes import infer_layers


def small_cfg(src: Path, dst: Path, size: int, yolo_options: Optional[Dict[str, str]] = None,
              narrow: int = 1) -> Path:
    """Copy ``src`` to ``dst`` with ``width=height=size`` and extra ``[yolo]`` options.

    ``narrow=f`` divides every conv's ``filters`` (and ``groups`` where needed) by f, except the
    convs feeding ``[yolo]`` and the last conv; the layer graph (types, routes, shortcuts,
    strides) is unchanged, the weights are ~f² times smaller, so CPU tests stay fast.
    """
    sections = read_cfg(src)
    sections[0].set("width", size).set("height", size)
    convs = [i for i, s in enumerate(sections) if s.type == "convolutional"]
    heads = {i - 1 for i, s in enumerate(sections) if s.type == "yolo"} | {convs[-1]}
    for i, s in enumerate(sections):
        if s.type == "yolo":
            for k, v in (yolo_options or {}).items():
                s.set(k, v)
        if narrow > 1 and s.type == "convolutional" and i not in heads:
            filters = s.get_int("filters", 1)
            assert filters % narrow == 0, (src, s.line)
            s.set("filters", filters // narrow)
            groups = s.get_int("groups", 1)
            if groups > 1:
                s.set("groups", max(1, groups // narrow))
    write_cfg(sections, dst)
    return dst


def write_random_weights(cfg: Path, dst: Path, seed: int = 0, seen: int = 12345) -> int:
    """Random weights for ``cfg`` in Darknet 0.2.5 format; returns the float count.

    Conv weights ~ U(-1, 1)·sqrt(3/fan_in) (keeps activations O(1)), biases/BN β ~ U(-0.2, 0.2),
    BN scale ~ U(0.5, 1.5), rolling mean ~ U(-0.2, 0.2), rolling var ~ U(0.5, 2) (positive).
    """
    rng = np.random.default_rng(seed)
    parts = [struct.pack("<iiiQ", 0, 2, 5, seen)]
    total = 0
    for spec in infer_layers(read_cfg(cfg)):
        p = spec.params
        if spec.type == "convolutional":
            n, k, g = p["filters"], p["size"], p["groups"]
            fan_in = spec.in_shape[0] // g * k * k
            arrays = [rng.uniform(-0.2, 0.2, n)]
            if p["batch_normalize"]:
                arrays += [rng.uniform(0.5, 1.5, n), rng.uniform(-0.2, 0.2, n),
                           rng.uniform(0.5, 2.0, n)]
            arrays.append(rng.uniform(-1, 1, n * fan_in) * np.sqrt(3.0 / fan_in))
        elif spec.weights:
            arrays = [rng.uniform(0.5, 1.5, spec.weights)]
        else:
            continue
        for a in arrays:
            parts.append(a.astype("<f4").tobytes())
            total += a.size
    dst.write_bytes(b"".join(parts))
    return total
