"""The built-in classification dataset: crops of single objects from the synthetic scenes.

Each image is a crop around the one object of a scene of :func:`yolov4.data.synth.render_scene`
(same shapes, colours, textures and clutter as the detection set, so a classifier trained on it
learns features the detector needs): a square window 1.2-1.8x the object's larger side, its
centre shifted by up to 10 % of the window and kept inside the scene, resized to ``size``. The class is the shape.
Image ``k`` depends only on ``(seed, k, size, classes)``.

Layout (folder per class): ``out/train/<shape>/NNNNNN.jpg``, ``out/val/<shape>/NNNNNN.jpg``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

from ..errors import DataError
from .synth import SHAPES, render_scene

#: Size of the rendered scene the crop is taken from.
SCENE = 128


def render_crop(rng: np.random.Generator, size: int = 64, classes: int = 5,
                clutter: float = 1.0) -> Tuple[np.ndarray, int]:
    """One ``(uint8[size, size, 3] RGB, class)``: a scene with one object, cropped around it."""
    for _ in range(20):
        image, boxes, labels = render_scene(rng, SCENE, classes, max_objects=1, clutter=clutter)
        if len(labels):
            break
    else:  # pragma: no cover - 20 empty scenes in a row are practically impossible
        raise DataError("synthetic classification: could not place an object")
    x0, y0, x1, y1 = boxes[0].tolist()
    side = max(x1 - x0, y1 - y0) * float(rng.uniform(1.2, 1.8))
    side = min(side, float(SCENE))
    cx = (x0 + x1) / 2 + float(rng.uniform(-0.1, 0.1)) * side
    cy = (y0 + y1) / 2 + float(rng.uniform(-0.1, 0.1)) * side
    cx = min(max(cx, side / 2), SCENE - side / 2)       # the window stays inside the scene
    cy = min(max(cy, side / 2), SCENE - side / 2)
    s = size / side
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float64)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if s < 1 else
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, int(labels[0])


def generate_classes(out_dir: os.PathLike, *, images: int = 1000, classes: int = 5,
                     size: int = 64, seed: int = 0, val_fraction: float = 0.2,
                     clutter: float = 1.0) -> Path:
    """Write the dataset (see the module docstring) and return its root folder (what
    ``yolov4 classify train --data`` takes). The last ``round(images·val_fraction)`` images
    form the validation split."""
    if images < 2 or size < 16 or not 0 < val_fraction < 1:
        raise DataError(f"classification synth: need images >= 2, size >= 16, "
                        f"0 < val_fraction < 1 (got {images}, {size}, {val_fraction})")
    out = Path(out_dir)
    names = SHAPES[:classes]
    for split in ("train", "val"):
        for name in names:
            (out / split / name).mkdir(parents=True, exist_ok=True)
    n_val = min(max(int(round(images * val_fraction)), 1), images - 1)
    for k in range(images):
        rng = np.random.default_rng([seed, k, size, classes, 0xC1A55])
        crop, label = render_crop(rng, size, classes, clutter)
        split = "val" if k >= images - n_val else "train"
        cv2.imwrite(str(out / split / names[label] / f"{k:06d}.jpg"),
                    cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return out


__all__ = ["generate_classes", "render_crop"]
