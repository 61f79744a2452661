"""A PNG grid of dataset samples with boxes and class names drawn: look at what training sees."""
from __future__ import annotations

import math
import os
from typing import Any, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import DataError
from .transforms.geometric import letterbox
from .transforms.pipeline import AugmentConfig, TrainPipeline, training_triple


def class_colour(label: int) -> Tuple[int, int, int]:
    """A stable, distinct RGB colour for class ``label`` (golden-ratio hue steps)."""
    hue = int((label * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 220, 255]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def draw_boxes(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
               names: Optional[Sequence[str]] = None) -> np.ndarray:
    """Return a copy of ``uint8[H, W, 3]`` RGB ``image`` with xyxy pixel ``boxes`` and their
    class names drawn."""
    out = np.ascontiguousarray(image).copy()
    for (x0, y0, x1, y1), lab in zip(np.asarray(boxes, np.float64), np.asarray(labels)):
        colour = class_colour(int(lab))
        p0, p1 = (int(round(x0)), int(round(y0))), (int(round(x1)) - 1, int(round(y1)) - 1)
        cv2.rectangle(out, p0, p1, colour, 1, cv2.LINE_AA)
        text = names[int(lab)] if names is not None and 0 <= int(lab) < len(names) else str(lab)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        ty = max(p0[1], th + base)
        cv2.rectangle(out, (p0[0], ty - th - base), (p0[0] + tw, ty), colour, -1)
        cv2.putText(out, text, (p0[0], ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out


def make_grid(tiles: Sequence[np.ndarray], cols: int, pad: int = 2) -> np.ndarray:
    """Tile equally sized ``uint8[h, w, 3]`` images into rows of ``cols`` with a dark gap."""
    h, w = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / cols)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 32, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = tile
    return grid


def save_grid(dataset: Any, out: "os.PathLike[str] | str", *, augment: bool = False, n: int = 16,
              seed: int = 0, size: int = 416, config: Optional[AugmentConfig] = None) -> str:
    """Write a PNG grid of ``n`` samples with boxes and class names.

    Args:
        dataset: ``names``, ``__len__``, ``__getitem__ -> Sample``.
        out: the PNG file to write (folders are created).
        augment: show training samples as the training pipeline makes them (``config``, default
            YOLOv4's: mosaic, jitter .3, HSV .1/1.5/1.5, flip) instead of letterboxed originals.
        n: number of samples (fewer when the dataset is smaller); seed: which samples/augments.
        size: the side of each tile in pixels.
    Returns:
        the path written.
    """
    if len(dataset) == 0:
        raise DataError("save_grid: the dataset is empty")
    n = max(1, min(int(n), len(dataset)) if not augment else int(n))
    rng = np.random.default_rng(seed)
    indices = rng.choice(len(dataset), size=n, replace=len(dataset) < n)
    if hasattr(dataset, "for_training") and augment:
        dataset = dataset.for_training()
    names = list(getattr(dataset, "names", []))
    pipeline = None
    if augment:
        cfg = config or AugmentConfig(jitter=0.3, hue=0.1, saturation=1.5, exposure=1.5,
                                      mosaic=True)
        pipeline = TrainPipeline(dataset, cfg)
    tiles = []
    for i in indices:
        if pipeline is not None:
            image, boxes, labels = pipeline(int(i), (size, size), rng)
        else:
            image, boxes, labels = letterbox(*training_triple(dataset[int(i)]), size)
        tiles.append(draw_boxes(image, boxes, labels, names))
    grid = make_grid(tiles, cols=math.ceil(math.sqrt(len(tiles))))
    path = os.fspath(out)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise DataError(f"{path}: cannot write the image (is the extension .png?)")
    return path
