"""Box helpers for augmentations: clip to the image, drop boxes that are too small or mostly cut.

All boxes are ``float32[N, 4]`` xyxy pixels in continuous coordinates: pixel ``(i, j)`` covers
``[j, j+1) x [i, i+1)``, so an image of width ``W`` spans ``[0, W]``. Labels are ``int64[N]``.

The drop rule (:class:`BoxRules`), applied after every step that moves or cuts boxes:
- clip to the visible region;
- drop when the clipped width or height is below ``min_size`` pixels;
- drop when the clipped area is below ``min_visible`` of the box's area before clipping (the box
  was mostly cut away by the crop, the mosaic cut or the image border).

Darknet keeps every box wider and taller than one input pixel (``min_size=1``, ``min_visible=0``,
``src/data.c: fill_truth_detection``); our defaults (2 px, 10 %) also drop slivers whose object
is no longer recognisable. Set both to Darknet's values to train exactly like Darknet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

Boxes = np.ndarray  # float32[N, 4] xyxy pixels
Labels = np.ndarray  # int64[N]


@dataclass(frozen=True)
class BoxRules:
    """When a box survives an augmentation step.

    Attributes:
        min_size: minimum width and height in pixels after clipping.
        min_visible: minimum ``area after clipping / area before clipping`` (0 keeps any sliver).
    """

    min_size: float = 2.0
    min_visible: float = 0.1

    def __post_init__(self) -> None:
        if self.min_size < 0 or not 0.0 <= self.min_visible <= 1.0:
            raise ValueError(f"BoxRules: min_size must be >= 0 and min_visible in [0, 1], "
                             f"got {self.min_size}, {self.min_visible}")


DARKNET_RULES = BoxRules(min_size=1.0, min_visible=0.0)


def empty_boxes() -> Tuple[Boxes, Labels]:
    """``(float32[0, 4], int64[0])``."""
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)


def box_area(boxes: Boxes) -> np.ndarray:
    """``float[N]`` areas of xyxy boxes (negative extents count as 0)."""
    wh = np.clip(boxes[:, 2:4] - boxes[:, 0:2], 0, None)
    return wh[:, 0] * wh[:, 1]


def clip_boxes(boxes: Boxes, x0: float, y0: float, x1: float, y1: float) -> Boxes:
    """Clip xyxy boxes to the rectangle ``[x0, x1] x [y0, y1]`` (returns a new float32 array)."""
    out = np.empty_like(boxes, dtype=np.float32)
    out[:, 0::2] = np.clip(boxes[:, 0::2], x0, x1)
    out[:, 1::2] = np.clip(boxes[:, 1::2], y0, y1)
    return out


def keep_mask(clipped: Boxes, original: Boxes, rules: BoxRules) -> np.ndarray:
    """``bool[N]``: which ``clipped`` boxes survive ``rules`` given their unclipped ``original``."""
    w = clipped[:, 2] - clipped[:, 0]
    h = clipped[:, 3] - clipped[:, 1]
    keep = (w >= max(rules.min_size, 1e-3)) & (h >= max(rules.min_size, 1e-3))
    if rules.min_visible > 0:
        area0 = box_area(original)
        keep &= w * h >= rules.min_visible * np.maximum(area0, 1e-6)
    keep &= np.isfinite(clipped).all(axis=1)
    return keep


def clip_and_filter(boxes: Boxes, labels: Labels, region: Tuple[float, float, float, float],
                    rules: BoxRules) -> Tuple[Boxes, Labels]:
    """Clip boxes to ``region = (x0, y0, x1, y1)`` and drop those that fail ``rules``.

    Args:
        boxes: ``float32[N, 4]`` xyxy pixels, already moved by the step.
        labels: ``int64[N]``, aligned with ``boxes``.
    Returns:
        ``(float32[M, 4], int64[M])`` with ``M <= N``, order kept.
    """
    if len(boxes) == 0:
        return empty_boxes()
    clipped = clip_boxes(boxes, *region)
    keep = keep_mask(clipped, boxes, rules)
    return clipped[keep].astype(np.float32), labels[keep].astype(np.int64)


def transform_boxes(boxes: Boxes, matrix: np.ndarray) -> Boxes:
    """Move xyxy boxes by a 2x3 affine ``matrix`` (continuous coordinates) -> enclosing boxes.

    Each box's four corners are mapped and the axis-aligned box around them is returned, which is
    exact for scaling, translation and flips and encloses the object for rotation and shear.
    """
    if len(boxes) == 0:
        return np.zeros((0, 4), np.float32)
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    xs = np.stack([x0, x1, x1, x0], 1).astype(np.float64)
    ys = np.stack([y0, y0, y1, y1], 1).astype(np.float64)
    m = np.asarray(matrix, np.float64)
    tx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    ty = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    return np.stack([tx.min(1), ty.min(1), tx.max(1), ty.max(1)], 1).astype(np.float32)


def transform_clip_polygons(boxes: Boxes, matrix: np.ndarray, width: float, height: float
                            ) -> Tuple[Boxes, np.ndarray]:
    """Move boxes by a rotating/shearing 2x3 ``matrix`` as quadrilaterals, clip them to
    ``[0, width] x [0, height]`` and return the boxes around the visible parts.

    Returns ``(float32[N, 4] xyxy, float[N] visible fraction of each moved quadrilateral)``; a box
    whose quadrilateral misses the image gets a zero box and fraction 0. Tighter than clipping the
    enclosing box: a corner of the enclosing box that is visible while the object is not does not
    keep the box alive.
    """
    out = np.zeros((len(boxes), 4), np.float32)
    frac = np.zeros(len(boxes), np.float64)
    if len(boxes) == 0:
        return out, frac
    m = np.asarray(matrix, np.float64)
    img = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes.astype(np.float64)):
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        quad = corners @ m[:, :2].T + m[:, 2]
        e1, e2 = quad[1] - quad[0], quad[3] - quad[0]
        area = abs(float(e1[0] * e2[1] - e1[1] * e2[0]))
        if area <= 0:
            continue
        inter, poly = cv2.intersectConvexConvex(quad.astype(np.float32), img)
        if poly is None or inter <= 0:
            continue
        poly = poly.reshape(-1, 2)
        out[k] = [poly[:, 0].min(), poly[:, 1].min(), poly[:, 0].max(), poly[:, 1].max()]
        frac[k] = inter / area
    out[:, 0::2] = np.clip(out[:, 0::2], 0, width)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, height)
    return out, frac


def check_aligned(boxes: Boxes, labels: Labels) -> None:
    """Raise ``ValueError`` when boxes and labels are not ``[N, 4]`` and ``[N]``."""
    if boxes.ndim != 2 or boxes.shape[1] != 4 or labels.shape != (boxes.shape[0],):
        raise ValueError(f"boxes {boxes.shape} and labels {labels.shape} are not aligned")
