"""Geometric augmentations: Darknet's jitter/resize crop, plain resize, letterbox, flip, affine.

Each public transform maps ``(image, boxes, labels[, rng])`` to ``(image, boxes, labels)``:
``image`` ``uint8[H, W, 3]`` RGB, ``boxes`` ``float32[N, 4]`` xyxy pixels, ``labels`` ``int64[N]``.
Boxes move with the pixels, are clipped to the output and dropped by :class:`BoxRules`.

Geometry is written as 2x3 matrices in *continuous* coordinates (the image spans ``[0, W]``, the
centre of pixel ``j`` is ``j + 0.5``); :func:`to_cv2_matrix` converts them for ``cv2.warpAffine``,
which samples at pixel centres. With this convention a warp by ``diag(sx, sy)`` is the same
sampling as ``cv2.resize`` and boxes map exactly.

Darknet's crop (``src/data.c: load_data_detection``): ``dw = (int)(ow*jitter)``; pleft, pright,
ptop, pbot are drawn independently from ``U[-dw, dw]`` (``dh`` vertically) and truncated to int;
``resize=r`` adds ``U[ow(1-r)/2, ow(1-1/r)/2]`` (one draw shared by left/top, another by
right/bottom, so the zoom is isotropic); the crop ``[pleft, ow-pright) x [ptop, oh-pbot)`` is
filled outside the image with the image's per-channel mean and resized (bilinear) to the network
size. ``letter_box`` widens the crop to the network aspect. The flip comes after the resize.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .boxes import (BoxRules, Boxes, Labels, clip_and_filter, transform_boxes,
                    transform_clip_polygons)

Triple = Tuple[np.ndarray, Boxes, Labels]
Size = Union[int, Tuple[int, int]]  # int or (height, width)


def hw(size: Size) -> Tuple[int, int]:
    """``(height, width)`` from an int or a pair."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def to_cv2_matrix(c: np.ndarray) -> np.ndarray:
    """Continuous-coordinate 2x3 matrix -> the pixel-index matrix ``cv2.warpAffine`` expects."""
    c = np.asarray(c, np.float64)
    m = c.copy()
    m[:, 2] = c[:, 2] + c[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return m


def compose(*mats: np.ndarray) -> np.ndarray:
    """``compose(a, b)`` = apply ``a`` then ``b`` (2x3 matrices)."""
    out = np.eye(3)
    for m in mats:
        out = np.vstack([m, [0, 0, 1]]) @ out
    return out[:2]


def image_fill(image: np.ndarray) -> Tuple[float, float, float]:
    """Darknet's padding colour: the image's per-channel mean (``cv::mean``)."""
    rows = cv2.reduce(image, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F)  # float32[1, W, 3]
    m = cv2.reduce(rows, 1, cv2.REDUCE_AVG).reshape(-1)  # two exact averaging passes
    return float(m[0]), float(m[1]), float(m[2])


def warp(image: np.ndarray, c: np.ndarray, out_wh: Tuple[int, int],
         fill: Optional[Sequence[float]]) -> np.ndarray:
    """Warp ``image`` by the continuous matrix ``c`` into ``out_wh = (w, h)`` (bilinear).
    Outside the image: constant ``fill``, or the edge pixels repeated when ``fill`` is None
    (what ``cv2.resize`` does at the border)."""
    if fill is None:
        return cv2.warpAffine(image, to_cv2_matrix(c), out_wh, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(image, to_cv2_matrix(c), out_wh, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(fill))


# -- Darknet's jitter/resize crop --------------------------------------------------------
@dataclass
class Crop:
    """A Darknet crop in source pixels: ``[pleft, ow-pright) x [ptop, oh-pbot)``; negative
    values pad. ``flip`` mirrors the resized result."""

    pleft: int
    pright: int
    ptop: int
    pbot: int
    flip: bool = False

    @property
    def inside(self) -> bool:
        """The crop lies within the image (no padding): edges are repeated like ``cv::resize``
        does on Darknet's crop; otherwise the padding is the image mean."""
        return min(self.pleft, self.pright, self.ptop, self.pbot) >= 0

    def fill(self, image: np.ndarray) -> Optional[Tuple[float, float, float]]:
        """The border mode for :func:`warp`: None (repeat edges) or the image mean."""
        return None if self.inside else image_fill(image)

    def matrix(self, ow: int, oh: int, out_w: int, out_h: int) -> np.ndarray:
        """Continuous 2x3 matrix: source pixels -> network pixels (crop, resize, flip)."""
        sw, sh = ow - self.pleft - self.pright, oh - self.ptop - self.pbot
        sx, sy = out_w / max(sw, 1), out_h / max(sh, 1)
        if self.flip:
            return np.array([[-sx, 0, out_w + self.pleft * sx], [0, sy, -self.ptop * sy]])
        return np.array([[sx, 0, -self.pleft * sx], [0, sy, -self.ptop * sy]])


def _precalc(lo: float, hi: float, r: float) -> int:
    """Darknet's ``rand_precalc_random`` assigned to an int (truncation toward zero)."""
    if hi < lo:
        lo, hi = hi, lo
    return int(r * (hi - lo) + lo)


def draw_crop(rng: np.random.Generator, ow: int, oh: int, out_w: int, out_h: int,
              jitter: float = 0.3, resize: float = 1.0, letter_box: bool = False,
              flip: bool = False) -> Crop:
    """Draw Darknet's crop for a source ``ow x oh`` and a network ``out_w x out_h``."""
    dw, dh = int(ow * jitter), int(oh * jitter)
    r1, r2, r3, r4, rr1, rr2 = rng.random(6)
    pleft, pright = _precalc(-dw, dw, r1), _precalc(-dw, dw, r2)
    ptop, pbot = _precalc(-dh, dh, r3), _precalc(-dh, dh, r4)
    if resize != 1.0 and resize > 0:
        down = resize if resize <= 1.0 else 1.0 / resize
        up = resize if resize >= 1.0 else 1.0 / resize
        min_rdw, min_rdh = int(ow * (1 - 1 / down) / 2), int(oh * (1 - 1 / down) / 2)
        max_rdw, max_rdh = int(ow * (1 - 1 / up) / 2), int(oh * (1 - 1 / up) / 2)
        if resize < 1:  # zoom out only
            max_rdw = max_rdh = 0
        pleft += _precalc(min_rdw, max_rdw, rr1)
        pright += _precalc(min_rdw, max_rdw, rr2)
        ptop += _precalc(min_rdh, max_rdh, rr1)
        pbot += _precalc(min_rdh, max_rdh, rr2)
    if letter_box:
        net_ar = out_w / out_h
        if (ow / oh) / net_ar > 1:  # the crop must get taller
            delta_h = (ow / net_ar - oh) / 2
            ptop, pbot = int(ptop - delta_h), int(pbot - delta_h)
        else:
            delta_w = (oh * net_ar - ow) / 2
            pleft, pright = int(pleft - delta_w), int(pright - delta_w)
    # never let the crop collapse (Darknet would divide by zero)
    if ow - pleft - pright < 2:
        pleft, pright = 0, 0
    if oh - ptop - pbot < 2:
        ptop, pbot = 0, 0
    return Crop(pleft, pright, ptop, pbot, flip)


def apply_crop(image: np.ndarray, boxes: Boxes, labels: Labels, crop: Crop, size: Size,
               rules: BoxRules = BoxRules()) -> Triple:
    """Apply a :class:`Crop` (crop + mean fill + resize + flip) to the network ``size``."""
    out_h, out_w = hw(size)
    oh, ow = image.shape[:2]
    c = crop.matrix(ow, oh, out_w, out_h)
    out = warp(image, c, (out_w, out_h), crop.fill(image))
    b, lab = clip_and_filter(transform_boxes(boxes, c), labels, (0, 0, out_w, out_h), rules)
    return out, b, lab


def jitter_resize(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                  size: Size, jitter: float = 0.3, resize: float = 1.0,
                  letter_box: bool = False, flip: bool = True,
                  rules: BoxRules = BoxRules()) -> Triple:
    """Darknet's training geometry for one image: jitter/resize crop, resize, flip (p=1/2)."""
    out_h, out_w = hw(size)
    do_flip = bool(flip) and rng.random() < 0.5
    crop = draw_crop(rng, image.shape[1], image.shape[0], out_w, out_h, jitter, resize,
                     letter_box, do_flip)
    return apply_crop(image, boxes, labels, crop, size, rules)


# -- deterministic resizes (evaluation) --------------------------------------------------
def resize(image: np.ndarray, boxes: Boxes, labels: Labels, size: Size) -> Triple:
    """Stretch to ``size`` (Darknet's plain ``resize_image``); boxes scaled, nothing dropped."""
    out_h, out_w = hw(size)
    oh, ow = image.shape[:2]
    out = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    b = boxes * np.array([out_w / ow, out_h / oh] * 2, np.float32)
    return out, b.astype(np.float32), labels


def letterbox_params(oh: int, ow: int, size: Size) -> Tuple[float, int, int, int, int]:
    """``(scale, new_w, new_h, pad_left, pad_top)`` of Darknet's ``letterbox_image``."""
    out_h, out_w = hw(size)
    if out_w / ow < out_h / oh:
        new_w, new_h = out_w, (oh * out_w) // ow
    else:
        new_h, new_w = out_h, (ow * out_h) // oh
    return new_w / ow, new_w, new_h, (out_w - new_w) // 2, (out_h - new_h) // 2


def letterbox(image: np.ndarray, boxes: Boxes, labels: Labels, size: Size,
              fill: int = 127) -> Triple:
    """Resize keeping the aspect ratio and pad centred with ``fill`` (Darknet: 0.5 grey)."""
    out_h, out_w = hw(size)
    oh, ow = image.shape[:2]
    _, new_w, new_h, left, top = letterbox_params(oh, ow, size)
    out = np.full((out_h, out_w, 3), fill, np.uint8)
    out[top:top + new_h, left:left + new_w] = cv2.resize(image, (new_w, new_h),
                                                         interpolation=cv2.INTER_LINEAR)
    sx, sy = new_w / ow, new_h / oh
    b = boxes * np.array([sx, sy, sx, sy], np.float32) + np.array([left, top] * 2, np.float32)
    return out, b.astype(np.float32), labels


# -- flip ------------------------------------------------------------------------------
def hflip(image: np.ndarray, boxes: Boxes, labels: Labels) -> Triple:
    """Mirror left-right: ``x -> W - x``."""
    w = image.shape[1]
    b = boxes.copy()
    b[:, 0], b[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), b, labels


def random_flip(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                p: float = 0.5) -> Triple:
    """:func:`hflip` with probability ``p``."""
    return hflip(image, boxes, labels) if rng.random() < p else (image, boxes, labels)


# -- random affine (not in Darknet) -----------------------------------------------------
def draw_affine(rng: np.random.Generator, width: int, height: int, degrees: float = 0.0,
                translate: float = 0.0, scale: float = 0.0, shear: float = 0.0) -> np.ndarray:
    """Continuous 2x3 matrix about the image centre: rotation ``U(-degrees, degrees)``, scale
    ``U(1-scale, 1+scale)``, shear ``U(-shear, shear)`` degrees in x and y, translation
    ``U(-translate, translate)`` of the width/height."""
    cx, cy = width / 2.0, height / 2.0
    a = math.radians(rng.uniform(-degrees, degrees)) if degrees else 0.0
    s = rng.uniform(1 - scale, 1 + scale) if scale else 1.0
    shx = math.tan(math.radians(rng.uniform(-shear, shear))) if shear else 0.0
    shy = math.tan(math.radians(rng.uniform(-shear, shear))) if shear else 0.0
    tx = rng.uniform(-translate, translate) * width if translate else 0.0
    ty = rng.uniform(-translate, translate) * height if translate else 0.0
    centre = np.array([[1, 0, -cx], [0, 1, -cy]], np.float64)
    rot = np.array([[s * math.cos(a), -s * math.sin(a), 0], [s * math.sin(a), s * math.cos(a), 0]])
    sh = np.array([[1, shx, 0], [shy, 1, 0]], np.float64)
    back = np.array([[1, 0, cx + tx], [0, 1, cy + ty]], np.float64)
    return compose(centre, rot, sh, back)


def random_affine(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                  degrees: float = 0.0, translate: float = 0.0, scale: float = 0.0,
                  shear: float = 0.0, fill: Optional[Sequence[float]] = None,
                  rules: BoxRules = BoxRules()) -> Triple:
    """Random rotation/scale/shear/translation keeping the image size.

    Without rotation and shear boxes move exactly. With them, each box moves as a
    quadrilateral, is clipped to the image, and becomes the box around its visible part (tight
    for objects that fill their box, enclosing for others); the visible fraction is the clipped
    quadrilateral's share of its area. ``fill`` defaults to the image
    mean, like Darknet's crop padding.
    """
    if not (degrees or translate or scale or shear):
        return image, boxes, labels
    h, w = image.shape[:2]
    c = draw_affine(rng, w, h, degrees, translate, scale, shear)
    out = warp(image, c, (w, h), image_fill(image) if fill is None else fill)
    if not (degrees or shear):  # axis-aligned: the moved box is exact
        b, lab = clip_and_filter(transform_boxes(boxes, c), labels, (0, 0, w, h), rules)
        return out, b, lab
    b, frac = transform_clip_polygons(boxes, c, w, h)
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    keep = (bw >= max(rules.min_size, 1e-3)) & (bh >= max(rules.min_size, 1e-3))
    keep &= (frac >= rules.min_visible) & (frac > 0)
    return out, b[keep], labels[keep]
