"""Inference pre-processing as Darknet and as OpenCV do it, and mapping boxes back to the image.

Images are ``np.ndarray[H, W, 3]`` uint8 **RGB** (CONTRACTS.md); the network input is
``Tensor[3, h, w]`` float32 RGB in [0, 1], no mean/std. Sizes passed as ``(width, height)``
like Darknet's ``net.w, net.h`` and ``cv2.resize``; ``image_size``/``input_hw`` are ``(h, w)``.

Resize kinds:
- ``"darknet"``: Darknet's ``resize_image`` (``src/image.c``): 2-tap bilinear with corners
  mapped onto corners, scale ``(in - 1) / (out - 1)``, no antialias, on [0, 1] floats — i.e.
  ``F.interpolate(mode="bilinear", align_corners=True)``. What ``darknet detector test`` does.
- ``"opencv"``: ``cv2.resize(INTER_LINEAR)`` on uint8, then /255 — what
  ``cv2.dnn.blobFromImage(img, 1/255, (w, h), swapRB=True)`` and Darknet's video demo do.

Letterbox (Darknet's ``letterbox_image``): the image is resized to the integer size
``new_w = netw, new_h = (h * netw) // w`` when ``netw / w < neth / h`` (else the mirror image),
pasted at ``((netw - new_w) // 2, (neth - new_h) // 2)`` on a 0.5 grey canvas.

Boxes go back to image pixels as Darknet's ``correct_yolo_boxes`` does:
``x_img = (x_in - pad_x) * w / new_w`` with ``pad_x = (netw - new_w) / 2`` as a **float**
(Darknet divides by ``2.``), so for an odd ``netw - new_w`` the map is half an input pixel off
the pasted image, exactly as in Darknet.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import DataError

RESIZE_KINDS = ("darknet", "opencv")
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class ImageTransform:
    """Where an original image sits inside the network input.

    Attributes:
        image_size: ``(h, w)`` of the original image.
        input_size: ``(h, w)`` of the network input.
        new_size: ``(h, w)`` the image was resized to (``input_size`` without letterbox).
        pad: ``(pad_y, pad_x)`` float offsets of the resized image used to map boxes back
            (Darknet's ``(net - new) / 2.``; 0 without letterbox).
    """

    image_size: Tuple[int, int]
    input_size: Tuple[int, int]
    new_size: Tuple[int, int]
    pad: Tuple[float, float] = (0.0, 0.0)

    @property
    def letterbox(self) -> bool:
        return self.new_size != self.input_size

    def _coef(self) -> Tuple[float, float, float, float]:
        (h, w), (nh, nw) = self.image_size, self.new_size
        return w / nw, h / nh, self.pad[1], self.pad[0]

    def to_image(self, boxes: Tensor) -> Tensor:
        """``Tensor[N, 4]`` xyxy input pixels -> xyxy pixels of the original image."""
        sx, sy, px, py = self._coef()
        out = boxes.clone()
        out[..., 0::2] = (boxes[..., 0::2] - px) * sx
        out[..., 1::2] = (boxes[..., 1::2] - py) * sy
        return out

    def to_input(self, boxes: Tensor) -> Tensor:
        """``Tensor[N, 4]`` xyxy original-image pixels -> xyxy input pixels (inverse map)."""
        sx, sy, px, py = self._coef()
        out = boxes.clone()
        out[..., 0::2] = boxes[..., 0::2] / sx + px
        out[..., 1::2] = boxes[..., 1::2] / sy + py
        return out


def load_image(path: PathLike) -> np.ndarray:
    """Read an image file as ``np.ndarray[H, W, 3]`` uint8 RGB.

    Raises:
        DataError: naming the file when it is missing or does not decode.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise DataError(f"{p}: image file not found")
    data = np.fromfile(p, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DataError(f"{p}: cannot decode image (not an image or corrupt)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def as_rgb_image(image: np.ndarray, rgb: bool = True, name: str = "<array>") -> np.ndarray:
    """Validate an in-memory image and return it as ``np.ndarray[H, W, 3]`` uint8 RGB.

    Accepts ``HxW`` (grey), ``HxWx1``, ``HxWx3`` or ``HxWx4`` (alpha dropped) uint8 arrays, or
    floats in [0, 1]. ``rgb=False`` means the channels are BGR (as ``cv2.imread`` gives).
    """
    if not isinstance(image, np.ndarray):
        raise DataError(f"{name}: expected a numpy image, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise DataError(f"{name}: expected an HxWx3 image, got shape {tuple(image.shape)}")
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.floating):
            raise DataError(f"{name}: expected uint8 or float image, got {image.dtype}")
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    image = image[:, :, :3]
    return np.ascontiguousarray(image if rgb else image[:, :, ::-1])


def _to_tensor(image: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def resize(image: np.ndarray, size: Tuple[int, int], kind: str = "darknet") -> Tensor:
    """Resize ``np.ndarray[H, W, 3]`` uint8 RGB to ``Tensor[3, height, width]`` in [0, 1].

    Args:
        size: ``(width, height)``. kind: ``"darknet"`` or ``"opencv"`` (see module docstring).
    """
    w, h = int(size[0]), int(size[1])
    if kind == "opencv":
        if image.shape[:2] == (h, w):
            return _to_tensor(image)
        return _to_tensor(cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR))
    if kind != "darknet":
        raise ValueError(f"unknown resize kind '{kind}', expected one of {RESIZE_KINDS}")
    t = _to_tensor(image)
    if t.shape[1:] == (h, w):
        return t
    return F.interpolate(t[None], size=(h, w), mode="bilinear", align_corners=True)[0]


def letterbox_size(image_hw: Tuple[int, int], size: Tuple[int, int]) -> Tuple[int, int]:
    """Darknet's integer letterbox size ``(new_w, new_h)`` of an ``(h, w)`` image in ``(W, H)``."""
    ih, iw = image_hw
    w, h = size
    if w / iw < h / ih:
        return w, (ih * w) // iw
    return (iw * h) // ih, h


def preprocess(image: np.ndarray, size: Tuple[int, int], *, letterbox: bool = False,
               resize_kind: str = "darknet") -> Tuple[Tensor, ImageTransform]:
    """One RGB uint8 image -> network input ``Tensor[3, height, width]`` and its transform.

    Args:
        image: ``np.ndarray[H, W, 3]`` uint8 RGB.
        size: network ``(width, height)``.
        letterbox: Darknet's letterbox (keep aspect, 0.5 grey border) instead of plain resize.
        resize_kind: ``"darknet"`` or ``"opencv"``.
    """
    w, h = int(size[0]), int(size[1])
    ih, iw = image.shape[:2]
    if not letterbox:
        return resize(image, (w, h), resize_kind), ImageTransform((ih, iw), (h, w), (h, w))
    nw, nh = letterbox_size((ih, iw), (w, h))
    canvas = torch.full((3, h, w), 0.5)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    canvas[:, y0:y0 + nh, x0:x0 + nw] = resize(image, (nw, nh), resize_kind)
    return canvas, ImageTransform((ih, iw), (h, w), (nh, nw), ((h - nh) / 2.0, (w - nw) / 2.0))
