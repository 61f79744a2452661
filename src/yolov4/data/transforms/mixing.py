"""Two-image mixing for detection: MixUp (blend, union of boxes) and CutMix (paste a region).

Both take two already augmented triples of the **same size** ``(uint8[H, W, 3] RGB,
float32[N, 4] xyxy px, int64[N])`` and return one triple.

- MixUp (Darknet ``mixup=1``, ``src/data.c: blend_images_cv``/``blend_truth``): ``0.5*a + 0.5*b``
  and the boxes of both (the new image's first in Darknet; here ``a`` then ``b``).
- CutMix for detection (Darknet supports CutMix only for classifiers): a rectangle of ``b`` with
  sides ``U[0.3, 0.8]`` of the image (Darknet's classifier numbers) is pasted into ``a`` at the same
  place. ``b``'s boxes are clipped to the rectangle and kept by :class:`BoxRules` (visible
  fraction of the pasted object). ``a``'s boxes are kept when at least ``min_visible`` of their area
  stays uncovered; when the rectangle covers a whole side band of a box, the box shrinks to the
  visible part. A box of ``a`` that loses its visibility is dropped, so no box survives without
  its pixels.
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from .boxes import BoxRules, Boxes, Labels, box_area, clip_and_filter, keep_mask

Triple = Tuple[np.ndarray, Boxes, Labels]


def _check_same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: images must have the same shape, got {a.shape} and {b.shape}")


def mixup(a: Triple, b: Triple, ratio: float = 0.5) -> Triple:
    """Blend ``ratio*a + (1-ratio)*b`` (Darknet: 0.5/0.5) and concatenate the boxes."""
    _check_same(a[0], b[0], "mixup")
    image = cv2.addWeighted(a[0], ratio, b[0], 1.0 - ratio, 0.0)
    boxes = np.concatenate([a[1], b[1]]).astype(np.float32).reshape(-1, 4)
    labels = np.concatenate([a[2], b[2]]).astype(np.int64)
    return image, boxes, labels


def random_mixup(a: Triple, b: Triple, rng: np.random.Generator,
                 alpha: Optional[float] = None) -> Triple:
    """MixUp with ratio 0.5 (Darknet) or ``Beta(alpha, alpha)`` when ``alpha`` is given."""
    ratio = 0.5 if not alpha else float(rng.beta(alpha, alpha))
    return mixup(a, b, ratio)


def _visible_after_cut(boxes: Boxes, rect: Tuple[float, float, float, float]
                       ) -> Tuple[Boxes, np.ndarray]:
    """Boxes of the base image under a pasted ``rect`` -> (shrunk boxes, visible area)."""
    x0, y0, x1, y1 = rect
    out = boxes.copy()
    ix0, iy0 = np.maximum(boxes[:, 0], x0), np.maximum(boxes[:, 1], y0)
    ix1, iy1 = np.minimum(boxes[:, 2], x1), np.minimum(boxes[:, 3], y1)
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    visible = box_area(boxes) - inter
    # the rectangle spans the whole box height: the left or right band is hidden
    full_h = (y0 <= boxes[:, 1]) & (y1 >= boxes[:, 3]) & (inter > 0)
    cut_left = full_h & (x0 <= boxes[:, 0]) & (x1 < boxes[:, 2])
    cut_right = full_h & (x1 >= boxes[:, 2]) & (x0 > boxes[:, 0])
    out[cut_left, 0] = x1
    out[cut_right, 2] = x0
    full_w = (x0 <= boxes[:, 0]) & (x1 >= boxes[:, 2]) & (inter > 0)
    cut_top = full_w & (y0 <= boxes[:, 1]) & (y1 < boxes[:, 3])
    cut_bot = full_w & (y1 >= boxes[:, 3]) & (y0 > boxes[:, 1])
    out[cut_top, 1] = y1
    out[cut_bot, 3] = y0
    return out, visible


def cutmix(a: Triple, b: Triple, rect: Tuple[int, int, int, int],
           rules: BoxRules = BoxRules()) -> Triple:
    """Paste ``b[y0:y1, x0:x1]`` into ``a`` at the same place, ``rect = (x0, y0, x1, y1)``."""
    _check_same(a[0], b[0], "cutmix")
    x0, y0, x1, y1 = rect
    image = a[0].copy()
    image[y0:y1, x0:x1] = b[0][y0:y1, x0:x1]
    frect = (float(x0), float(y0), float(x1), float(y1))
    a_boxes, a_labels = a[1], a[2]
    if len(a_boxes):
        shrunk, visible = _visible_after_cut(a_boxes, frect)
        keep = keep_mask(shrunk, a_boxes, rules)
        keep &= visible >= max(rules.min_visible, 1e-6) * np.maximum(box_area(a_boxes), 1e-6)
        # a box swallowed by the rectangle is gone whatever the rules say
        keep &= visible > 1e-6
        a_boxes, a_labels = shrunk[keep], a_labels[keep]
    b_boxes, b_labels = clip_and_filter(b[1], b[2], frect, rules)
    boxes = np.concatenate([a_boxes, b_boxes]).astype(np.float32).reshape(-1, 4)
    return image, boxes, np.concatenate([a_labels, b_labels]).astype(np.int64)


def draw_cutmix_rect(rng: np.random.Generator, w: int, h: int, min_side: float = 0.3,
                     max_side: float = 0.8) -> Tuple[int, int, int, int]:
    """Darknet's classifier CutMix rectangle: sides ``rand_int(0.3 w, 0.8 w)``, placed inside."""
    cw = int(rng.integers(int(w * min_side), int(w * max_side) + 1))
    ch = int(rng.integers(int(h * min_side), int(h * max_side) + 1))
    x0 = int(rng.integers(0, max(w - cw, 0) + 1))
    y0 = int(rng.integers(0, max(h - ch, 0) + 1))
    return x0, y0, x0 + cw, y0 + ch


def random_cutmix(a: Triple, b: Triple, rng: np.random.Generator,
                  rules: BoxRules = BoxRules()) -> Triple:
    """:func:`cutmix` with a rectangle from :func:`draw_cutmix_rect`."""
    h, w = a[0].shape[:2]
    return cutmix(a, b, draw_cutmix_rect(rng, w, h), rules)
