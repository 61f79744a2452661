"""Darknet's classifier augmentation and mixing (``src/data.c: load_data_augment``).

Per image (``load_image_augment_paths``), with ``size = max(net w, net h)``:

1. ``random_augment_image`` (``src/image.c``): ``aspect' = rand_scale(aspect)``, ``r =
   rand_int(min_crop, max_crop)``, ``scale = r / min(h, w·aspect')`` (the shorter side becomes
   ``r``), a rotation ``U(−angle, angle)`` degrees, a shift ``dx, dy`` uniform within the
   overhang of the scaled image beyond ``size`` (0 when it is smaller), then
   ``rotate_crop_image``: each output pixel ``(x, y)`` of the ``size × size`` crop samples the
   source bilinearly at ``R·((x − size/2 + dx)·aspect'/scale, (y − size/2 + dy)/scale) + centre``;
   outside the image the taps are 0 (black).
2. flip with probability 1/2 (``flip``, default 1); 3. ``random_distort_image``: hue
   ``U(−hue, hue)``, saturation and exposure ``rand_scale`` (here in 8-bit HSV, as the
   detector's, :mod:`.photometric`; Darknet's classifier path uses float HSV);
4. ``resize_image`` to the network ``w × h`` (a no-op for square networks).

Truth (``fill_truth_smooth``): ``1 − ε`` / ``ε/(k − 1)`` (:func:`yolov4.loss.classify.smooth_truth`).

Mixing (``[net] mixup=1``, ``cutmix=1``, ``mosaic=1``; ``parse_net_options`` maps cutmix to
code 2, mosaic to 3, both to 4): in Darknet a coin per loader chunk (``rand_int(0, 1)``)
decides whether the chunk is mixed; then, per image, with images drawn at random from the whole
training set and augmented independently:

- **MixUp** (1): ``(a + b)/2`` and ``(t_a + t_b)/2``;
- **CutMix** (2): ``cut_w = rand_int(0.3w, 0.8w)``, ``cut_h = rand_int(0.3h, 0.8h)``, ``cut_x =
  rand_int(0, w − cut_w − 1)``, ``cut_y`` likewise; ``b``'s pixels replace ``a``'s in
  ``[cut_x, cut_x + cut_w) × [cut_y, cut_y + cut_h)``; with ``α = cut_w·cut_h/(w·h)`` the truth
  is ``(1 − α)·t_a + α·t_b``;
- **Mosaic** (3): ``cut_x = rand_int(0.2w, 0.8w)``, ``cut_y`` likewise; four images, each
  keeping its own pixels in one quadrant (TL, TR, BL, BR), truth weighted by the quadrant areas
  ``s1..s4`` (they sum to 1);
- code 4: CutMix or Mosaic per image (``rand_int(2, 3)``).

Then ``blur``: with probability 1/4 a ``GaussianBlur`` of size ``blur`` (15 for ``blur=1``).
Here the mixing coin is per image (a whole chunk is a share of a batch in Darknet), so that
every image depends only on its own seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence, Tuple

import cv2
import numpy as np

from .photometric import apply_hsv, draw_hsv, rand_scale

#: Darknet's ``net->mixup`` codes.
MIX_NONE, MIX_MIXUP, MIX_CUTMIX, MIX_MOSAIC, MIX_CUTMIX_MOSAIC = 0, 1, 2, 3, 4


def rand_int(rng: np.random.Generator, lo: float, hi: float) -> int:
    """Darknet's ``rand_int(int min, int max)``: the bounds truncated to int, swapped if
    reversed, uniform over ``[min, max]`` inclusive."""
    lo, hi = int(lo), int(hi)
    if hi < lo:
        lo, hi = hi, lo
    return int(rng.integers(lo, hi + 1))


def mix_code(mixup: int = 0, cutmix: int = 0, mosaic: int = 0) -> int:
    """``parse_net_options``: mosaic+cutmix -> 4, cutmix -> 2, mosaic -> 3, else ``mixup``."""
    if mosaic and cutmix:
        return MIX_CUTMIX_MOSAIC
    if cutmix:
        return MIX_CUTMIX
    if mosaic:
        return MIX_MOSAIC
    return int(mixup or 0)


@dataclass(frozen=True)
class ClassAug:
    """The classifier's ``[net]`` augmentation keys (Darknet's defaults when absent)."""

    width: int = 256
    height: int = 256
    min_crop: int = 256
    max_crop: int = 512
    angle: float = 0.0
    aspect: float = 1.0
    flip: bool = True
    hue: float = 0.0
    saturation: float = 1.0
    exposure: float = 1.0
    blur: int = 0
    mix: int = MIX_NONE
    label_smooth_eps: float = 0.0

    @classmethod
    def from_net(cls, net: Any) -> "ClassAug":
        """From a ``[net]`` section (``parse_net_options``: ``min_crop`` default ``w``,
        ``max_crop`` ``2w``, ``flip`` 1, ``aspect`` 1, the others off)."""
        w, h = net.get_int("width", 256), net.get_int("height", 256)
        return cls(width=w, height=h, min_crop=net.get_int("min_crop", w),
                   max_crop=net.get_int("max_crop", 2 * w), angle=net.get_float("angle", 0.0),
                   aspect=net.get_float("aspect", 1.0), flip=bool(net.get_int("flip", 1)),
                   hue=net.get_float("hue", 0.0), saturation=net.get_float("saturation", 1.0),
                   exposure=net.get_float("exposure", 1.0), blur=net.get_int("blur", 0),
                   mix=mix_code(net.get_int("mixup", 0), net.get_int("cutmix", 0),
                                net.get_int("mosaic", 0)),
                   label_smooth_eps=net.get_float("label_smooth_eps", 0.0))


# ---------------------------------------------------------------------------- one image
def crop_matrix(ih: int, iw: int, size: int, scale: float, rad: float, dx: float, dy: float,
                aspect: float) -> np.ndarray:
    """``float64[2, 3]``: output pixel ``(x, y, 1)`` -> source ``(rx, ry)`` of
    ``rotate_crop_image(im, rad, scale, size, size, dx, dy, aspect)``."""
    c, s = math.cos(rad), math.sin(rad)
    ax, ay = aspect / scale, 1.0 / scale
    # u = (x - size/2 + dx)*ax, v = (y - size/2 + dy)*ay; rx = c*u - s*v + iw/2; ry = s*u + c*v + ih/2
    ox, oy = (dx - size / 2.0) * ax, (dy - size / 2.0) * ay
    return np.array([[c * ax, -s * ay, c * ox - s * oy + iw / 2.0],
                     [s * ax, c * ay, s * ox + c * oy + ih / 2.0]], np.float64)


def random_augment(image: np.ndarray, rng: np.random.Generator, aug: ClassAug) -> np.ndarray:
    """Steps 1-4 of the module docstring: ``uint8[H, W, 3]`` -> ``uint8[height, width, 3]``."""
    ih, iw = image.shape[:2]
    size = max(aug.width, aug.height)
    aspect = rand_scale(rng, aug.aspect) if aug.aspect != 1 else 1.0
    r = rand_int(rng, aug.min_crop, aug.max_crop)
    shorter = ih if ih < iw * aspect else iw * aspect
    scale = r / shorter
    rad = float(rng.uniform(-aug.angle, aug.angle)) * math.pi / 180.0 if aug.angle else 0.0
    dx = max((iw * scale / aspect - size) / 2.0, 0.0)
    dy = max((ih * scale - size) / 2.0, 0.0)
    dx = float(rng.uniform(-dx, dx)) if dx else 0.0
    dy = float(rng.uniform(-dy, dy)) if dy else 0.0
    m = crop_matrix(ih, iw, size, scale, rad, dx, dy, aspect)
    out = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    if aug.flip and rng.random() < 0.5:
        out = np.ascontiguousarray(out[:, ::-1])
    out = apply_hsv(out, *draw_hsv(rng, aug.hue, aug.saturation, aug.exposure))
    if (aug.height, aug.width) != out.shape[:2]:
        out = cv2.resize(out, (aug.width, aug.height), interpolation=cv2.INTER_LINEAR)
    return out


def blur(image: np.ndarray, rng: np.random.Generator, ksize: int) -> np.ndarray:
    """``load_data_augment``'s blur: with probability 1/4 ``GaussianBlur(k, k)``, ``k = 15`` for
    ``blur=1`` (made odd, as OpenCV needs)."""
    if ksize <= 0 or rng.integers(0, 4) != 0:
        return image
    k = 15 if ksize == 1 else int(ksize)
    k += 1 - k % 2
    return cv2.GaussianBlur(image, (k, k), 0)


# ---------------------------------------------------------------------------- mixing
def mixup(a: np.ndarray, ta: np.ndarray, b: np.ndarray, tb: np.ndarray
          ) -> Tuple[np.ndarray, np.ndarray]:
    """MixUp: ``(a + b)/2`` (rounded to uint8) and ``(t_a + t_b)/2``."""
    image = cv2.addWeighted(a, 0.5, b, 0.5, 0.0)
    return image, ((ta + tb) / 2.0).astype(np.float32)


def draw_cutmix(rng: np.random.Generator, w: int, h: int) -> Tuple[int, int, int, int]:
    """Darknet's CutMix rectangle ``(left, top, cut_w, cut_h)``."""
    cut_w = rand_int(rng, w * 0.3, w * 0.8)
    cut_h = rand_int(rng, h * 0.3, h * 0.8)
    return rand_int(rng, 0, w - cut_w - 1), rand_int(rng, 0, h - cut_h - 1), cut_w, cut_h


def cutmix(a: np.ndarray, ta: np.ndarray, b: np.ndarray, tb: np.ndarray,
           rect: Tuple[int, int, int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """CutMix: ``b``'s pixels in ``rect = (left, top, cut_w, cut_h)``; the truth weighted by
    the pasted area ``α = cut_w·cut_h/(w·h)``: ``(1 − α)·t_a + α·t_b``."""
    h, w = a.shape[:2]
    x, y, cw, ch = rect
    image = a.copy()
    image[y:y + ch, x:x + cw] = b[y:y + ch, x:x + cw]
    alpha = (cw * ch) / float(w * h)
    return image, (ta * (1.0 - alpha) + tb * alpha).astype(np.float32)


def draw_mosaic(rng: np.random.Generator, w: int, h: int) -> Tuple[int, int]:
    """Darknet's classifier mosaic cut ``(cut_x, cut_y)`` in ``[0.2, 0.8]`` of the sides."""
    return rand_int(rng, w * 0.2, w * 0.8), rand_int(rng, h * 0.2, h * 0.8)


def mosaic(images: Sequence[np.ndarray], truths: Sequence[np.ndarray],
           cut: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Mosaic of four same-size images: image k keeps quadrant k (TL, TR, BL, BR) of the cut;
    the truth is ``Σ s_k·t_k`` with ``s_k`` quadrant area / image area."""
    h, w = images[0].shape[:2]
    cx, cy = cut
    out = np.empty_like(images[0])
    out[:cy, :cx] = images[0][:cy, :cx]
    out[:cy, cx:] = images[1][:cy, cx:]
    out[cy:, :cx] = images[2][cy:, :cx]
    out[cy:, cx:] = images[3][cy:, cx:]
    s = np.array([cx * cy, (w - cx) * cy, cx * (h - cy), (w - cx) * (h - cy)], np.float64) / (w * h)
    truth = sum(float(sk) * t for sk, t in zip(s, truths))
    return out, np.asarray(truth, np.float32)


# ---------------------------------------------------------------------------- evaluation
def center_crop_input(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``validate_classifier_single``'s input: ``resize_min(im, w)`` (the shorter side to
    ``w``, integer sizes, Darknet's bilinear resize) then the centred ``w × h`` crop at
    ``((rw − w)/2, (rh − h)/2)``. Returns ``float32[3, height, width]`` in [0, 1]."""
    from ...preprocess import resize
    ih, iw = image.shape[:2]
    if iw < ih:
        rw, rh = width, (ih * width) // iw
    else:
        rw, rh = (iw * width) // ih, width
    t = resize(image, (rw, rh))
    x0, y0 = (rw - width) // 2, (rh - height) // 2
    crop = t[:, max(y0, 0):max(y0, 0) + height, max(x0, 0):max(x0, 0) + width]
    if crop.shape[1:] != (height, width):       # image smaller than the crop: zero border
        import torch
        full = torch.zeros((3, height, width), dtype=crop.dtype)
        full[:, :crop.shape[1], :crop.shape[2]] = crop
        crop = full
    return crop.numpy()


__all__ = ["ClassAug", "MIX_CUTMIX", "MIX_CUTMIX_MOSAIC", "MIX_MIXUP", "MIX_MOSAIC", "MIX_NONE",
           "blur", "center_crop_input", "crop_matrix", "cutmix", "draw_cutmix", "draw_mosaic",
           "mix_code", "mixup", "mosaic", "rand_int", "random_augment"]
