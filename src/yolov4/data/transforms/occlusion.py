"""Occlusion augmentations: CutOut / random erasing, Hide-and-Seek, GridMask.

Each takes ``(image, boxes, labels, rng, ...)`` (``uint8[H, W, 3]`` RGB, ``float32[N, 4]`` xyxy px,
``int64[N]``) and returns ``(image, boxes, labels)`` with boxes and labels **unchanged**.

The rule that keeps labels honest: an occluder never hides an object. The occluders of one call
are first drawn as a mask; then, for every box whose unoccluded share of its area would fall below
``min_visible`` (default 0.3), the mask is cleared inside that box, so the object stays fully
visible there. Every labelled object therefore keeps at least ``min_visible`` of its box visible,
and no box is dropped.

- CutOut (DeVries & Taylor 2017): ``n_holes`` squares of side ``U[size]`` x the shorter side,
  filled with a constant (default: the image mean).
- Random erasing (Zhong et al. 2017): one rectangle of area ``U[scale]`` x the image and aspect
  ``U[ratio]`` (log-uniform), filled with uniform noise, with probability ``p``.
- Hide-and-Seek (Singh & Lee 2017): the image is cut into a grid of ``grid`` pixel patches (a
  size drawn from ``grid_sizes``; 0 = no hiding) and each patch is hidden with probability
  ``p_hide``, filled with the image mean.
- GridMask (Chen et al. 2020): units of side ``d = U[d_range]`` pixels with random offset; in
  each unit a square of side ``(1 - keep_ratio) * d`` is removed (filled with 0).
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple, Union

import numpy as np

from .boxes import Boxes, Labels

Triple = Tuple[np.ndarray, Boxes, Labels]
Fill = Union[str, int, Sequence[int]]


def protect_objects(mask: np.ndarray, boxes: Boxes, min_visible: float) -> np.ndarray:
    """Clear ``mask`` (``uint8[H, W]``, 1 = occluded) inside every box that would keep less
    than ``min_visible`` of its area visible. Modifies and returns ``mask``."""
    h, w = mask.shape
    for x0, y0, x1, y1 in boxes:
        l, t = max(0, int(math.floor(x0))), max(0, int(math.floor(y0)))
        r, b = min(w, int(math.ceil(x1))), min(h, int(math.ceil(y1)))
        if r <= l or b <= t:
            continue
        region = mask[t:b, l:r]
        if 1.0 - float(region.mean()) < min_visible:
            region[...] = 0
    return mask


def apply_mask(image: np.ndarray, mask: np.ndarray, fill: Fill,
               rng: np.random.Generator) -> np.ndarray:
    """Return a copy of ``image`` with ``mask`` pixels replaced by ``fill`` (``"mean"``,
    ``"random"`` uniform noise, or a grey level / RGB triple)."""
    sel = mask.astype(bool)
    if not sel.any():
        return image
    out = image.copy()
    if isinstance(fill, str) and fill == "random":
        out[sel] = rng.integers(0, 256, (int(sel.sum()), 3), dtype=np.uint8)
    elif isinstance(fill, str) and fill == "mean":
        out[sel] = np.rint(image.reshape(-1, 3).mean(0)).astype(np.uint8)
    elif isinstance(fill, str):
        raise ValueError(f"fill must be 'mean', 'random' or a colour, got {fill!r}")
    else:
        out[sel] = np.broadcast_to(np.asarray(fill, np.uint8), (3,))
    return out


def _finish(image: np.ndarray, boxes: Boxes, labels: Labels, mask: np.ndarray, fill: Fill,
            rng: np.random.Generator, min_visible: float) -> Triple:
    protect_objects(mask, boxes, min_visible)
    return apply_mask(image, mask, fill, rng), boxes, labels


def cutout(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
           n_holes: int = 1, size: Tuple[float, float] = (0.1, 0.3), fill: Fill = "mean",
           p: float = 1.0, min_visible: float = 0.3) -> Triple:
    """CutOut: ``n_holes`` squares (side ``U[size]`` x shorter image side, may overhang)."""
    if rng.random() >= p or n_holes <= 0:
        return image, boxes, labels
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for _ in range(n_holes):
        side = max(1, int(rng.uniform(*size) * min(h, w)))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        mask[max(0, cy - side // 2):cy + (side + 1) // 2,
             max(0, cx - side // 2):cx + (side + 1) // 2] = 1
    return _finish(image, boxes, labels, mask, fill, rng, min_visible)


def random_erasing(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                   p: float = 0.5, scale: Tuple[float, float] = (0.02, 0.33),
                   ratio: Tuple[float, float] = (0.3, 3.3), fill: Fill = "random",
                   min_visible: float = 0.3, tries: int = 10) -> Triple:
    """Random erasing: one rectangle inside the image, area ``U[scale]``, log-uniform aspect."""
    if rng.random() >= p:
        return image, boxes, labels
    h, w = image.shape[:2]
    for _ in range(tries):
        area = rng.uniform(*scale) * h * w
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        eh, ew = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if 0 < eh < h and 0 < ew < w:
            y0, x0 = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            mask = np.zeros((h, w), np.uint8)
            mask[y0:y0 + eh, x0:x0 + ew] = 1
            return _finish(image, boxes, labels, mask, fill, rng, min_visible)
    return image, boxes, labels


def hide_and_seek(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                  grid_sizes: Sequence[int] = (0, 16, 32, 44, 56), p_hide: float = 0.5,
                  fill: Fill = "mean", p: float = 1.0, min_visible: float = 0.3) -> Triple:
    """Hide-and-Seek: hide each ``grid x grid`` patch with probability ``p_hide``."""
    if rng.random() >= p:
        return image, boxes, labels
    grid = int(grid_sizes[int(rng.integers(0, len(grid_sizes)))])
    if grid <= 0:
        return image, boxes, labels
    h, w = image.shape[:2]
    gh, gw = -(-h // grid), -(-w // grid)
    cells = (rng.random((gh, gw)) < p_hide).astype(np.uint8)
    mask = np.ascontiguousarray(np.kron(cells, np.ones((grid, grid), np.uint8))[:h, :w])
    return _finish(image, boxes, labels, mask, fill, rng, min_visible)


def gridmask(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
             d_range: Tuple[int, int] = (96, 224), keep_ratio: float = 0.6, fill: Fill = 0,
             p: float = 0.7, min_visible: float = 0.3) -> Triple:
    """GridMask: remove a square of side ``(1-keep_ratio)*d`` from every ``d x d`` unit."""
    if rng.random() >= p:
        return image, boxes, labels
    h, w = image.shape[:2]
    d = int(rng.integers(d_range[0], d_range[1] + 1))
    cut = max(1, int(round(d * (1.0 - keep_ratio))))
    dx, dy = int(rng.integers(0, d)), int(rng.integers(0, d))
    line_x = ((np.arange(w) + dx) % d) < cut
    line_y = ((np.arange(h) + dy) % d) < cut
    mask = (line_y[:, None] & line_x[None, :]).astype(np.uint8)
    return _finish(image, boxes, labels, mask, fill, rng, min_visible)
