"""The classifier's training loader: augmented images and truth vectors.

A batch is ``(images Tensor[B, 3, H, W] float32 [0, 1], targets Tensor[B, classes] float32,
paths list[str])``; each target row is the image's truth (label smoothing and mixing applied,
sums to 1), what Darknet's ``load_data_augment`` puts in ``d.y``.

Reproducibility as the detector's loader (:mod:`yolov4.data.loader`): the same
:class:`~yolov4.data.loader.ShapeBatchSampler` (with a fixed size) decides every batch's indices
and gives each item the seed ``(seed, global batch number, position)``; every draw for that
image (its crop, the mixing coin, the partner images and theirs) comes from it alone.
"""
from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..loss.classify import smooth_truth
from .loader import RandomShapes, ShapeBatchSampler, _worker_init, worker_context
from .transforms.classify import (MIX_CUTMIX, MIX_CUTMIX_MOSAIC, MIX_MIXUP, MIX_MOSAIC, ClassAug,
                                  blur, cutmix, draw_cutmix, draw_mosaic, mixup, mosaic,
                                  rand_int, random_augment)


class ClassAugmentedDataset(Dataset):
    """Maps a sampler item ``(index, h, w, seed, batch, position)`` to ``(uint8[h, w, 3],
    float32[classes] truth, path)`` (see :mod:`yolov4.data.transforms.classify`)."""

    def __init__(self, dataset: Any, aug: ClassAug) -> None:
        self.dataset, self.aug = dataset, aug
        self.classes = len(dataset.names)

    def __len__(self) -> int:
        return len(self.dataset)

    def _one(self, index: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        sample = self.dataset[index]
        image = random_augment(sample.image, rng, self.aug)
        truth = smooth_truth(int(sample.label), self.classes, self.aug.label_smooth_eps)
        return image, truth.numpy()

    def __getitem__(self, item: tuple) -> tuple:
        index, h, w, seed, batch, pos = item
        rng = np.random.default_rng([seed, batch, pos])
        image, truth = self._one(index, rng)
        mix = self.aug.mix
        if mix and rng.random() < 0.5:                      # Darknet: rand_int(0, 1) per chunk
            n = len(self.dataset)
            if mix == MIX_CUTMIX_MOSAIC:
                mix = rand_int(rng, MIX_CUTMIX, MIX_MOSAIC)
            if mix == MIX_MIXUP:
                image, truth = mixup(image, truth, *self._one(int(rng.integers(n)), rng))
            elif mix == MIX_CUTMIX:
                other = self._one(int(rng.integers(n)), rng)
                rect = draw_cutmix(rng, image.shape[1], image.shape[0])
                image, truth = cutmix(image, truth, *other, rect)
            elif mix == MIX_MOSAIC:
                parts = [(image, truth)] + [self._one(int(rng.integers(n)), rng) for _ in range(3)]
                cut = draw_mosaic(rng, image.shape[1], image.shape[0])
                image, truth = mosaic([p[0] for p in parts], [p[1] for p in parts], cut)
        image = blur(image, rng, self.aug.blur)
        return image, np.asarray(truth, np.float32), str(self.dataset.paths[index])


def collate_classes(items: Sequence[tuple]) -> Tuple[torch.Tensor, torch.Tensor, List[str]]:
    """Stack ``(uint8[h, w, 3], float32[C], path)`` items into ``(Tensor[B, 3, h, w] in [0, 1],
    Tensor[B, C], paths)``."""
    images = np.stack([it[0] for it in items]).transpose(0, 3, 1, 2)
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    y = torch.from_numpy(np.stack([it[1] for it in items]).astype(np.float32))
    return x, y, [it[2] for it in items]


def classify_loader(dataset: Any, aug: ClassAug, *, batch_size: int, seed: int = 0,
                    workers: int = 0, shuffle: bool = True, drop_last: bool = True,
                    sampling: str = "epoch") -> DataLoader:
    """The training loader of a classifier (``dataset``: ``names``, ``paths``,
    ``__getitem__ -> ClassSample``; ``sampling`` as :class:`ShapeBatchSampler`)."""
    shapes = RandomShapes((aug.height, aug.width), rule="fixed")
    sampler = ShapeBatchSampler(len(dataset), batch_size, shapes, seed=seed, shuffle=shuffle,
                                drop_last=drop_last, sampling=sampling)
    return DataLoader(ClassAugmentedDataset(dataset, aug), batch_sampler=sampler,
                      collate_fn=collate_classes, num_workers=workers,
                      worker_init_fn=_worker_init if workers else None,
                      multiprocessing_context=worker_context(workers), persistent_workers=False)


__all__ = ["ClassAugmentedDataset", "classify_loader", "collate_classes"]
