"""Darknet's per-image training augmentation (crop, resize, flip, HSV, blur, noise) in one pass.

Darknet augments every training image to the full network size ``w x h``
(``src/image_opencv.cpp: image_data_augmentation``): jitter/resize crop with mean-colour fill,
bilinear resize, flip, HSV, blur, Gaussian noise. Mosaic then keeps only one quadrant-sized
*window* of each of its four images. :func:`augment_window` renders just that window (one
``cv2.warpAffine`` of the composed crop+resize+flip, then the photometric steps on the window),
which gives the same pixels and boxes as augmenting the whole image and cutting the window out,
at a quarter of the cost. With ``window=None`` it renders the whole image (the non-mosaic path).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .boxes import BoxRules, Boxes, Labels, clip_and_filter, transform_boxes
from .geometric import Crop, draw_crop, warp
from .photometric import apply_blur, apply_hsv, draw_blur, draw_hsv, gaussian_noise

Triple = Tuple[np.ndarray, Boxes, Labels]


@dataclass(frozen=True)
class ImageAug:
    """Darknet's per-image augmentation settings (``[net]``/``[yolo]`` key names).

    ``jitter``/``resize``/``letter_box``: crop geometry; ``flip``: mirror with probability 1/2;
    ``hue``/``saturation``/``exposure``: HSV; ``blur``: 0 off, N modes {none, 1, N};
    ``gaussian_noise``: sigma of the noise added with probability 1/2 (0 off).
    """

    jitter: float = 0.2
    resize: float = 1.0
    letter_box: bool = False
    flip: bool = True
    hue: float = 0.0
    saturation: float = 1.0
    exposure: float = 1.0
    blur: int = 0
    gaussian_noise: float = 0.0


def draw_image_crop(rng: np.random.Generator, ow: int, oh: int, out_w: int, out_h: int,
                    aug: ImageAug, mosaic_slot: Optional[int] = None) -> Crop:
    """Draw flip and crop; for a mosaic image (``mosaic_slot`` 0..3), Darknet's corner bias:
    with probability 1/2 the jitter moves to one side, pushing the image toward its corner."""
    flip = bool(aug.flip) and rng.random() < 0.5
    c = draw_crop(rng, ow, oh, out_w, out_h, aug.jitter, aug.resize, aug.letter_box, flip)
    if mosaic_slot is not None and rng.random() < 0.5:
        left_side = (mosaic_slot in (1, 3)) != flip  # which horizontal pad is zeroed
        if left_side:
            c.pleft, c.pright = c.pleft + c.pright, 0
        else:
            c.pleft, c.pright = 0, c.pleft + c.pright
        if mosaic_slot in (0, 1):
            c.ptop, c.pbot = 0, c.ptop + c.pbot
        else:
            c.ptop, c.pbot = c.ptop + c.pbot, 0
    return c


def augment_window(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                   crop: Crop, full_wh: Tuple[int, int], aug: ImageAug,
                   window: Optional[Tuple[int, int, int, int]] = None,
                   rules: BoxRules = BoxRules()) -> Triple:
    """Render ``window = (x, y, w, h)`` of the image augmented to ``full_wh`` by ``crop``, then
    HSV, blur and noise drawn from ``rng``.

    Returns ``(uint8[h, w, 3], float32[M, 4] xyxy pixels of the window, int64[M])``; boxes are
    clipped to the window and filtered by ``rules`` (visible fraction relative to the object's
    whole moved box).
    """
    full_w, full_h = full_wh
    oh, ow = image.shape[:2]
    x, y, w, h = window if window is not None else (0, 0, full_w, full_h)
    c = crop.matrix(ow, oh, full_w, full_h).copy()
    c[0, 2] -= x
    c[1, 2] -= y
    out = warp(image, c, (w, h), crop.fill(image))
    b, lab = clip_and_filter(transform_boxes(boxes, c), labels, (0, 0, w, h), rules)
    dhue, dsat, dexp = draw_hsv(rng, aug.hue, aug.saturation, aug.exposure)
    out = apply_hsv(out, dhue, dsat, dexp)
    if aug.blur:
        out = apply_blur(out, b, draw_blur(rng, aug.blur))
    if aug.gaussian_noise:
        out, _, _ = gaussian_noise(out, b, lab, rng, aug.gaussian_noise)
    return out, b, lab


def augment_image(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                  size: Tuple[int, int], aug: ImageAug, rules: BoxRules = BoxRules()) -> Triple:
    """Darknet's full per-image augmentation to ``size = (height, width)``."""
    h, w = size
    crop = draw_image_crop(rng, image.shape[1], image.shape[0], w, h, aug)
    return augment_window(image, boxes, labels, rng, crop, (w, h), aug, None, rules)
