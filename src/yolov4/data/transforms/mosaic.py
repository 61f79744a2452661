"""Mosaic: four fully augmented images joined at a random cut point, at full canvas scale.

Darknet (``src/data.c: load_data_detection`` with ``mosaic=1``, ``blend_truth_mosaic``):
- ``cut_x = rand_int(0.2 w, 0.8 w)``, ``cut_y = rand_int(0.2 h, 0.8 h)`` (inclusive);
- four independent images, each augmented (own jitter, flip, HSV, ...) to the **full** ``w x h``
  (objects keep full-canvas scale), with a corner bias (probability 1/2 per image);
- quadrant 0 = top-left ``[0, cut_x) x [0, cut_y)``, 1 = top-right, 2 = bottom-left,
  3 = bottom-right; each copies its image's corner nearest the canvas centre, shifted to skip
  the mean-coloured padding: ``left_shift = min(cut_x, max(0, -pleft*w/ow))`` and likewise
  (after swapping pleft/pright when flipped);
- boxes move with the window and are clipped to their quadrant (Darknet's ``mosaic_bound=1``).

Because our windows are cut exactly, a box is always clipped to its own quadrant (``mosaic_bound``
changes nothing here: without it Darknet lets boxes overhang the cut line by a few pixels).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from .boxes import BoxRules, Boxes, Labels, empty_boxes
from .image_aug import ImageAug, augment_window, draw_image_crop

Triple = Tuple[np.ndarray, Boxes, Labels]


def draw_cut(rng: np.random.Generator, w: int, h: int,
             min_offset: float = 0.2) -> Tuple[int, int]:
    """Darknet's cut point: ``rand_int(int(w*0.2), int(w*0.8))`` and the same for ``h``."""
    cut_x = int(rng.integers(int(w * min_offset), int(w * (1 - min_offset)) + 1))
    cut_y = int(rng.integers(int(h * min_offset), int(h * (1 - min_offset)) + 1))
    return cut_x, cut_y


def quadrant(slot: int, w: int, h: int, cut_x: int, cut_y: int) -> Tuple[int, int, int, int]:
    """``(x, y, qw, qh)`` of quadrant ``slot`` (0 TL, 1 TR, 2 BL, 3 BR) on the canvas."""
    x = 0 if slot in (0, 2) else cut_x
    y = 0 if slot in (0, 1) else cut_y
    qw = cut_x if slot in (0, 2) else w - cut_x
    qh = cut_y if slot in (0, 1) else h - cut_y
    return x, y, qw, qh


def mosaic4(samples: Sequence[Triple], rng: np.random.Generator, size: Tuple[int, int],
            aug: ImageAug, rules: BoxRules = BoxRules(), min_offset: float = 0.2) -> Triple:
    """Darknet's mosaic of four source images.

    Args:
        samples: four ``(uint8[H_i, W_i, 3] RGB, float32[N_i, 4] xyxy px, int64[N_i])`` sources
            (not yet augmented; any sizes).
        rng: randomness for the cut point and every image's augmentation.
        size: canvas ``(height, width)``.
        aug: the per-image augmentation (crop, flip, HSV, blur, noise) for each of the four.
        rules: box survival rules applied to each quadrant.
    Returns:
        ``(uint8[h, w, 3], float32[M, 4] xyxy canvas pixels, int64[M])``.
    """
    if len(samples) != 4:
        raise ValueError(f"mosaic needs 4 images, got {len(samples)}")
    h, w = size
    cut_x, cut_y = draw_cut(rng, w, h, min_offset)
    canvas = np.empty((h, w, 3), np.uint8)
    all_boxes, all_labels = [], []
    for slot, (image, boxes, labels) in enumerate(samples):
        oh, ow = image.shape[:2]
        crop = draw_image_crop(rng, ow, oh, w, h, aug, mosaic_slot=slot)
        pleft, pright = (crop.pright, crop.pleft) if crop.flip else (crop.pleft, crop.pright)
        left_shift = min(cut_x, max(0, int(-pleft * w / ow)))
        top_shift = min(cut_y, max(0, int(-crop.ptop * h / oh)))
        right_shift = min(w - cut_x, max(0, int(-pright * w / ow)))
        bot_shift = min(h - cut_y, max(0, int(-crop.pbot * h / oh)))
        qx, qy, qw, qh = quadrant(slot, w, h, cut_x, cut_y)
        if qw <= 0 or qh <= 0:
            continue
        sx = w - cut_x - right_shift if slot in (0, 2) else left_shift
        sy = h - cut_y - bot_shift if slot in (0, 1) else top_shift
        tile, b, lab = augment_window(image, boxes, labels, rng, crop, (w, h), aug,
                                      (sx, sy, qw, qh), rules)
        canvas[qy:qy + qh, qx:qx + qw] = tile
        if len(b):
            all_boxes.append(b + np.array([qx, qy, qx, qy], np.float32))
            all_labels.append(lab)
    if not all_boxes:
        return (canvas, *empty_boxes())
    return canvas, np.concatenate(all_boxes).astype(np.float32), np.concatenate(all_labels)
