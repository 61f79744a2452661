"""The one sample contract shared by readers, augmentations, the loader and evaluation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class Sample:
    """One image with its objects.

    Attributes:
        image: ``uint8[H, W, 3]`` **RGB**.
        boxes: ``float32[N, 4]`` xyxy pixels of ``image``.
        labels: ``int64[N]`` 0-based class indices.
        path: the image file (or a synthetic name).
        iscrowd: ``bool[N]`` COCO crowd flags (``None`` = no crowds); crowd boxes are dropped
            for training and kept for evaluation.
        difficult: ``bool[N]`` VOC difficult flags (``None`` = none).
    """

    image: np.ndarray
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    path: str = ""
    iscrowd: Optional[np.ndarray] = None
    difficult: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, np.int64).reshape(-1)
        if len(self.boxes) != len(self.labels):
            raise ValueError(f"{self.path}: {len(self.boxes)} boxes but {len(self.labels)} labels")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
