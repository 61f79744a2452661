"""Oracle for augmentation property tests: objects drawn as filled rectangles of unique colours.

After a transform, the pixels of colour ``PALETTE[label]`` show where each object really is, which
is independent of how the transform moved the boxes. :func:`check` asserts:
- boxes are finite, positive-sized, inside the image, and aligned with int64 labels;
- every surviving box contains pixels of its colour (no box survives whose colour is gone);
- ``tight``: the extent of its colour's pixels near the box matches the box within ``tol`` px;
- every pixel of a colour lies within ``tol`` px of a box of that colour, except thin remnants
  (< ``remnant`` px thick) of objects dropped for being too small.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np

from yolov4.data.sample import Sample
from yolov4.data.transforms.boxes import BoxRules

# Far apart, and no 50/50 blend of two of them (or with black) is near a third.
PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255),
           (255, 255, 255)]
TOL = 30  # colour tolerance: a pixel matches when >= ~88 % covered by the object
RULES = BoxRules(min_size=3.0, min_visible=0.0)  # keep every piece >= 3 px: remnants are thin


def scene(rng: np.random.Generator, h: int, w: int, colours: Sequence[int],
          min_side: int = 20, max_side: int = 80, gap: int = 4) -> Tuple[np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """Black image with one non-overlapping filled rectangle per colour index (integer edges)."""
    image = np.zeros((h, w, 3), np.uint8)
    taken = np.zeros((h, w), bool)
    boxes: List[List[float]] = []
    labels: List[int] = []
    for c in colours:
        for _ in range(200):
            bw, bh = (int(v) for v in rng.integers(min_side, max_side + 1, 2))
            bw, bh = min(bw, w - 2), min(bh, h - 2)
            x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
            if not taken[max(0, y0 - gap):y0 + bh + gap, max(0, x0 - gap):x0 + bw + gap].any():
                break
        else:
            continue
        taken[y0:y0 + bh, x0:x0 + bw] = True
        image[y0:y0 + bh, x0:x0 + bw] = PALETTE[c]
        boxes.append([x0, y0, x0 + bw, y0 + bh])
        labels.append(c)
    return image, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def scene_sample(rng: np.random.Generator, h: int, w: int, colours: Sequence[int],
                 **kw) -> Sample:
    image, boxes, labels = scene(rng, h, w, colours, **kw)
    return Sample(image, boxes, labels, path=f"scene_{'_'.join(map(str, colours))}.png")


def colour_mask(image: np.ndarray, c: int) -> np.ndarray:
    diff = np.abs(image.astype(np.int16) - np.array(PALETTE[c], np.int16)).max(-1)
    return diff <= TOL


def check(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, *, tight: bool = True,
          tol: float = 2.0, remnant: int = 5) -> None:
    h, w = image.shape[:2]
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert boxes.dtype == np.float32 and boxes.shape == (len(labels), 4), (boxes.shape, labels.shape)
    assert labels.dtype == np.int64
    assert np.isfinite(boxes).all()
    if len(boxes):
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all(), boxes
        assert (boxes[:, :2] >= -1e-4).all() and (boxes[:, 2] <= w + 1e-4).all()
        assert (boxes[:, 3] <= h + 1e-4).all()
    for (x0, y0, x1, y1), c in zip(boxes, labels):
        mask = colour_mask(image, int(c))
        inner = mask[int(np.floor(y0)):int(np.ceil(y1)), int(np.floor(x0)):int(np.ceil(x1))]
        assert inner.any(), f"box {(x0, y0, x1, y1)} of colour {c} survives without its colour"
        if tight:
            t = int(np.ceil(tol)) + 1
            l, tp = max(0, int(np.floor(x0)) - t), max(0, int(np.floor(y0)) - t)
            near = mask[tp:int(np.ceil(y1)) + t, l:int(np.ceil(x1)) + t]
            ys, xs = np.nonzero(near)
            px0, py0, px1, py1 = xs.min() + l, ys.min() + tp, xs.max() + l + 1, ys.max() + tp + 1
            err = np.abs(np.array([px0 - x0, py0 - y0, px1 - x1, py1 - y1]))
            assert (err <= tol).all(), (f"box {(x0, y0, x1, y1)} of colour {c} vs its pixels "
                                        f"{(px0, py0, px1, py1)}")
    for c in range(len(PALETTE)):
        mask = colour_mask(image, c).astype(np.uint8)
        if not mask.any():
            continue
        for x0, y0, x1, y1 in boxes[labels == c]:
            mask[max(0, int(np.floor(y0 - tol))):int(np.ceil(y1 + tol)),
                 max(0, int(np.floor(x0 - tol))):int(np.ceil(x1 + tol))] = 0
        stray = cv2.erode(mask, np.ones((remnant, remnant), np.uint8))
        assert not stray.any(), f"pixels of colour {c} outside every box of that colour"


class SceneDataset:
    """In-memory dataset of colour scenes: image ``i`` holds the colours ``groups[i]``."""

    def __init__(self, groups: Sequence[Sequence[int]], h: int = 120, w: int = 160,
                 seed: int = 0, **kw) -> None:
        rng = np.random.default_rng(seed)
        self.names = [f"c{i}" for i in range(len(PALETTE))]
        self.samples = [scene_sample(rng, h, w, g, **kw) for g in groups]
        self.paths = [s.path for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]
