"""Helpers (no tests): tiny in-memory datasets and a tiny cfg for the training-engine tests."""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from yolov4.data.sample import Sample

TINY_CFG = """
[net]
batch={batch}
subdivisions={subdivisions}
width=64
height=64
channels=3
momentum=0.9
decay=0.0005
learning_rate={lr}
burn_in=0
max_batches=100
policy=constant
flip={flip}

[convolutional]
batch_normalize={bn}
filters=16
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize={bn}
filters=32
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2
{dropout}
[convolutional]
batch_normalize={bn}
filters=32
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize={bn}
filters=64
size=3
stride=1
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask=0,1,2
anchors=12,12, 20,20, 28,28
classes=2
num=3
jitter={jitter}
random={random}
ignore_thresh=.7
truth_thresh=1
iou_loss={iou_loss}
iou_normalizer={iou_normalizer}
"""


def tiny_cfg(path: Path, *, batch: int = 4, subdivisions: int = 1, lr: float = 0.01, flip: int = 0,
             bn: int = 1, jitter: float = 0.0, random: float = 0, iou_loss: str = "mse",
             iou_normalizer: float = 1.0, dropblock: bool = False) -> Path:
    dropout = ("\n[dropout]\nprobability=0.3\ndropblock=1\ndropblock_size_abs=3\n"
               if dropblock else "")
    path.write_text(TINY_CFG.format(batch=batch, subdivisions=subdivisions, lr=lr, flip=flip, bn=bn,
                                    jitter=jitter, random=random, iou_loss=iou_loss,
                                    iou_normalizer=iou_normalizer, dropout=dropout))
    return path


class SquaresDataset:
    """Images of coloured squares (class 0 red, class 1 blue) on a grey background."""

    def __init__(self, n: int, seed: int = 0, size: int = 64, prefix: str = "img") -> None:
        rng = np.random.default_rng(seed)
        self.names = ["red", "blue"]
        self.samples: List[Sample] = []
        for i in range(n):
            img = np.full((size, size, 3), 110, np.uint8)
            img += rng.integers(0, 20, img.shape, dtype=np.uint8)
            boxes, labels = [], []
            for k in range(2):
                s = int(rng.integers(14, 26))
                # left half / right half so the two objects never overlap
                x = int(rng.integers(0, size // 2 - s)) + k * size // 2
                y = int(rng.integers(0, size - s))
                c = int(rng.integers(0, 2))
                img[y:y + s, x:x + s] = (220, 30, 30) if c == 0 else (30, 30, 220)
                boxes.append([x, y, x + s, y + s])
                labels.append(c)
            self.samples.append(Sample(img, np.asarray(boxes, np.float32),
                                       np.asarray(labels, np.int64), f"{prefix}_{i:03d}.png"))
        self.paths = [s.path for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]
