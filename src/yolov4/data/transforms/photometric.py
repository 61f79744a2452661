"""Photometric augmentations as Darknet does them: HSV hue/saturation/exposure, blur, noise.

Each function takes ``(image, boxes, labels, rng, ...)`` and returns ``(image, boxes, labels)``
with the boxes and labels unchanged (blur mode 1 only *reads* the boxes). ``image`` is
``uint8[H, W, 3]`` RGB; boxes ``float32[N, 4]`` xyxy pixels; ``rng`` a ``numpy.random.Generator``.

Darknet references (``src/image_opencv.cpp: image_data_augmentation``, ``src/data.c:
load_data_detection``):
- HSV: ``dhue = U(-hue, hue)``, ``dsat = rand_scale(saturation)``, ``dexp = rand_scale(exposure)``
  where ``rand_scale(s)`` draws ``U[1, s]`` and takes the reciprocal with probability 1/2. In 8-bit
  HSV (H in [0, 180)): ``S *= dsat``, ``V *= dexp`` saturating at 255, ``H += 179 * dhue``
  saturating at 0 and 255 (OpenCV's ``Mat +=``); H values >= 180 wrap in HSV->RGB.
- blur=N: one of {none, 1, N} with equal probability. Mode 1: 17x17 Gaussian blur of the whole
  image, then the pixels inside every box are restored (only the background is blurred). Mode
  N > 1: Gaussian blur with ksize ``(N/2)*2+1`` (capped at min box side / 8 when that is > 1).
- gaussian_noise=N: with probability 1/2, noise ``N(0, min(N, 127))`` rounded into uint8 (negative values
  clip to 0, so the noise only brightens) added with saturation.
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from .boxes import Boxes, Labels

Triple = Tuple[np.ndarray, Boxes, Labels]


def rand_scale(rng: np.random.Generator, s: float) -> float:
    """Darknet's ``rand_scale``: ``U[1, s]``, reciprocal with probability 1/2 (``s >= 1``)."""
    s = float(s)
    if s < 1.0:
        s = 1.0 / s if s > 0 else 1.0
    scale = float(rng.uniform(1.0, s)) if s > 1.0 else 1.0
    return scale if rng.random() < 0.5 else 1.0 / scale


def draw_hsv(rng: np.random.Generator, hue: float, saturation: float,
             exposure: float) -> Tuple[float, float, float]:
    """Draw ``(dhue, dsat, dexp)`` the way Darknet does."""
    dhue = float(rng.uniform(-hue, hue)) if hue > 0 else 0.0
    return dhue, rand_scale(rng, saturation), rand_scale(rng, exposure)


def _luts(dhue: float, dsat: float, dexp: float) -> np.ndarray:
    v = np.arange(256, dtype=np.float64)
    lut = np.stack([np.clip(np.rint(v + 179.0 * dhue), 0, 255),
                    np.clip(np.rint(v * dsat), 0, 255),
                    np.clip(np.rint(v * dexp), 0, 255)], axis=1)
    return lut.astype(np.uint8).reshape(256, 1, 3)


def apply_hsv(image: np.ndarray, dhue: float, dsat: float, dexp: float,
              out: Optional[np.ndarray] = None) -> np.ndarray:
    """Shift hue by ``179*dhue`` and scale saturation/value (8-bit HSV, Darknet's arithmetic).

    ``image``: ``uint8[H, W, 3]`` RGB (may be a view); returns a new array (or writes ``out``).
    Returns ``image`` itself when nothing changes (Darknet skips the conversion then).
    """
    if dhue == 0 and dsat == 1 and dexp == 1:
        if out is not None:
            out[...] = image
            return out
        return image
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    cv2.LUT(hsv, _luts(dhue, dsat, dexp), dst=hsv)
    if out is None:
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB, dst=out)
    return out


def random_hsv(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
               hue: float = 0.1, saturation: float = 1.5, exposure: float = 1.5) -> Triple:
    """Darknet's HSV distortion with a fresh draw; boxes and labels pass through."""
    return apply_hsv(image, *draw_hsv(rng, hue, saturation, exposure)), boxes, labels


def draw_blur(rng: np.random.Generator, blur: int) -> int:
    """Darknet's per-image blur mode: one of ``{0, 1, blur}`` with equal probability."""
    if blur <= 0:
        return 0
    return (0, 1, int(blur))[int(rng.integers(0, 3))]


def apply_blur(image: np.ndarray, boxes: Boxes, mode: int) -> np.ndarray:
    """Blur in Darknet's ``mode`` (0 none, 1 background only, N>1 whole image, ksize (N/2)*2+1)."""
    if mode <= 0:
        return image
    if mode == 1:
        out = cv2.GaussianBlur(image, (17, 17), 0)
        h, w = image.shape[:2]
        for x0, y0, x1, y1 in boxes:  # restore the objects: only the background is blurred
            l, t = max(0, int(x0)), max(0, int(y0))
            r, b = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
            if r > l and b > t:
                out[t:b, l:r] = image[t:b, l:r]
        return out
    if len(boxes):
        min_side = int(np.min(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
        if min_side // 8 < mode and min_side // 8 > 1:  # Darknet: do not blur small objects away
            mode = min_side // 8
    k = (mode // 2) * 2 + 1
    return cv2.GaussianBlur(image, (k, k), 0) if k > 1 else image


def random_blur(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                blur: int = 1) -> Triple:
    """Darknet's ``blur=N`` augmentation; boxes and labels pass through."""
    return apply_blur(image, boxes, draw_blur(rng, blur)), boxes, labels


def gaussian_noise(image: np.ndarray, boxes: Boxes, labels: Labels, rng: np.random.Generator,
                   sigma: float = 0.0, p: float = 0.5) -> Triple:
    """Darknet's ``gaussian_noise=sigma``: with probability ``p``, add ``max(0, N(0, sigma))``
    rounded to uint8, saturating (negative noise clips to 0 as in Darknet's uint8 ``randn``)."""
    sigma = min(float(sigma), 127.0)  # Darknet clamps the sigma to [0, 127]
    if sigma <= 0 or rng.random() >= p:
        return image, boxes, labels
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= float(sigma)
    np.clip(noise, 0, 255, out=noise)
    noise_u8 = np.rint(noise).astype(np.uint8)
    return cv2.add(image, noise_u8), boxes, labels
