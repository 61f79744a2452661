"""The training loader: augmentation in workers, collate, random training shapes.

(Evaluation reads images through :class:`yolov4.Detector`'s pre-processing, in
``yolov4.eval.driver``: one resize/letterbox for inference, ``yolov4 val`` and training
validation.)

A batch is ``(images, targets, paths)`` (docs/CONTRACTS.md):
- ``images``: ``Tensor[B, 3, H, W]`` float32 RGB in [0, 1]; every image of a batch has one size;
- ``targets``: ``Tensor[M, 6]`` rows ``(image_index, class, x1, y1, x2, y2)`` in input pixels;
- ``paths``: ``list[str]`` of length B.

Reproducibility: the batch sampler (main process) decides every batch's indices and input size,
and gives each item its own seed derived from ``(seed, global batch number, position)``; the
augmentation draws only from that seed. A run is therefore the same for any number of workers.

Random training shapes (:class:`RandomShapes`): every ``every`` batches a new input size, the
same for the whole batch, a multiple of ``step`` — uniform over ``[min_size, max_size]``, or
Darknet's rule (``src/detector.c: train_detector``, ``random=1``): ``r = rand_scale(1.4)``,
``dim = round(r*init/32 + 1)*32``, ``init`` when ``r < 1`` and ``dim > init``; the first block
and the last 100 batches (when ``total_batches`` is given) use the maximum
``round(1.4*init/32 + 1)*32``. Darknet counts iterations (``batch`` images), a loader batch is a
mini-batch: use ``every = 10 * subdivisions`` to match Darknet exactly.
"""
from __future__ import annotations

import math
import multiprocessing
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..darknet.yolo_settings import last_yolo_settings
from ..errors import DataError
from .sample import Sample
from .transforms.geometric import hw
from .transforms.pipeline import AugmentConfig, TrainPipeline

Size = Union[int, Tuple[int, int]]


# -- random shapes ----------------------------------------------------------------------
class RandomShapes:
    """The input size of every batch: fixed, uniform multiples of ``step``, or Darknet's rule.

    Args:
        init: the cfg's ``(height, width)`` (or int); the size when ``rule="fixed"``.
        rule: ``"fixed"``, ``"uniform"`` (sizes ``min_size..max_size`` step ``step``, square) or
            ``"darknet"`` (``random`` factor, keeps the aspect of ``init``).
        every: batches per size block (Darknet: 10 iterations).
        seed: sizes are a pure function of ``(seed, batch_number // every)``.
        total_batches: with ``"darknet"``, the last 100 batches use the maximum size.
    """

    def __init__(self, init: Size = 608, rule: str = "uniform", *, min_size: int = 320,
                 max_size: int = 608, step: int = 32, every: int = 10, random: float = 1.4,
                 seed: int = 0, total_batches: Optional[int] = None) -> None:
        if rule not in ("fixed", "uniform", "darknet"):
            raise ValueError(f"RandomShapes: rule must be fixed, uniform or darknet, got {rule!r}")
        if step <= 0 or every <= 0:
            raise ValueError("RandomShapes: step and every must be positive")
        self.init, self.rule, self.step, self.every = hw(init), rule, int(step), int(every)
        self.min_size = int(math.ceil(min_size / step) * step)
        self.max_size = int(max_size // step * step)
        if rule == "uniform" and not 0 < self.min_size <= self.max_size:
            raise ValueError(f"RandomShapes: no multiple of {step} in [{min_size}, {max_size}]")
        self.random = float(random) if random > 1 else 1.4  # Darknet: random=1 means 1.4
        self.seed, self.total_batches = int(seed), total_batches

    @classmethod
    def from_cfg(cls, sections: Sequence[Any], *, every: int = 10, seed: int = 0,
                 total_batches: Optional[int] = None) -> "RandomShapes":
        """Darknet's multi-scale setting of a cfg: ``width``/``height`` from ``[net]``,
        ``random`` from the **last** ``[yolo]`` (0 = fixed size, 1 = factor 1.4, other values
        are the factor), ``resize_step`` (default 32) from ``[net]``."""
        net = next((s for s in sections if s.type == "net"), None)
        if net is None:
            raise DataError("RandomShapes.from_cfg: the cfg has no [net] section")
        init = (net.get_int("height", 416), net.get_int("width", 416))
        step = net.get_int("resize_step", 32)
        last = last_yolo_settings(sections)
        random = last.random if last is not None else 0.0
        if random <= 0:
            return cls(init, "fixed", step=step, every=every, seed=seed)
        return cls(init, "darknet", step=step, every=every, random=1.4 if random == 1 else random,
                   seed=seed, total_batches=total_batches)

    def _darknet_dim(self, r: float, init: int) -> int:
        dim = int(round(r * init / self.step + 1)) * self.step
        if r < 1 and dim > init:
            dim = init
        return max(dim, self.step)

    def max_shape(self) -> Tuple[int, int]:
        if self.rule == "uniform":
            return self.max_size, self.max_size
        if self.rule == "fixed":
            return self.init
        return tuple(self._darknet_dim(self.random, s) for s in self.init)  # type: ignore

    def size(self, batch: int) -> Tuple[int, int]:
        """``(height, width)`` of global batch number ``batch``."""
        if self.rule == "fixed":
            return self.init
        block = batch // self.every
        rng = np.random.default_rng([self.seed, 0x5A17E5, block])
        if self.rule == "uniform":
            n = (self.max_size - self.min_size) // self.step + 1
            s = self.min_size + self.step * int(rng.integers(0, n))
            return s, s
        last = self.total_batches is not None and batch >= self.total_batches - 100
        if block == 0 or last:
            return self.max_shape()
        r = float(rng.uniform(1.0, self.random))
        r = r if rng.random() < 0.5 else 1.0 / r
        return self._darknet_dim(r, self.init[0]), self._darknet_dim(r, self.init[1])


# -- samplers and datasets --------------------------------------------------------------
SAMPLINGS = ("epoch", "replacement")


class ShapeBatchSampler(Sampler):
    """Yields batches of ``(index, height, width, seed, batch, position)`` tuples.

    ``sampling="epoch"``: epoch ``e`` visits a permutation drawn from ``(seed, e)`` (or the
    dataset order without ``shuffle``), each image once. ``sampling="replacement"``: every image
    of every batch is drawn independently and uniformly, with replacement, as Darknet's
    ``get_random_paths`` does (``src/data.c``); an "epoch" is then just ``len(self)`` batches.
    Either way the draws depend only on ``(seed, e)``, so a resumed run sees the same images. The
    epoch counter advances at every ``iter()`` (or is set by :meth:`set_epoch`).
    """

    def __init__(self, n: int, batch_size: int, shapes: RandomShapes, *, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = False,
                 sampling: str = "epoch") -> None:
        if n <= 0:
            raise DataError("the training dataset is empty: no images to load")
        if batch_size <= 0:
            raise DataError(f"batch_size must be positive, got {batch_size}")
        self.n, self.batch_size, self.shapes = n, int(batch_size), shapes
        if sampling not in SAMPLINGS:
            raise DataError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        self.seed, self.shuffle, self.drop_last = int(seed), shuffle, drop_last
        self.sampling = sampling
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[List[tuple]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        per_epoch = len(self)
        if self.sampling == "replacement":
            order = np.random.default_rng([self.seed, epoch, 1]).integers(
                0, self.n, per_epoch * self.batch_size)
        elif self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        else:
            order = np.arange(self.n)
        for k in range(per_epoch):
            idx = order[k * self.batch_size:(k + 1) * self.batch_size]
            g = epoch * per_epoch + k
            h, w = self.shapes.size(g)
            yield [(int(i), h, w, self.seed, g, p) for p, i in enumerate(idx)]


class AugmentedDataset(Dataset):
    """Maps a sampler item ``(index, h, w, seed, batch, position)`` to an augmented sample
    ``(uint8[h, w, 3], float32[N, 4], int64[N], path)``."""

    def __init__(self, dataset: Any, config: AugmentConfig) -> None:
        self.dataset = dataset
        self.pipeline = TrainPipeline(dataset, config)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple) -> tuple:
        index, h, w, seed, batch, pos = item
        rng = np.random.default_rng([seed, batch, pos])
        image, boxes, labels = self.pipeline(index, (h, w), rng)
        return image, boxes, labels, _path(self.dataset, index)


def _path(dataset: Any, index: int) -> str:
    paths = getattr(dataset, "paths", None)
    return str(paths[index]) if paths is not None else str(index)


# -- collate ------------------------------------------------------------------------------
def collate(items: Sequence[tuple]) -> tuple:
    """Stack ``(image uint8[h, w, 3], boxes float32[N, 4], labels int64[N], path, ...)`` items.

    Returns ``(Tensor[B, 3, h, w] float32 [0, 1], Tensor[M, 6] (image_index, class, x1, y1, x2,
    y2), list[str])``.
    Raises ``ValueError`` when the images of a batch differ in size.
    """
    shapes = {it[0].shape for it in items}
    if len(shapes) != 1:
        raise ValueError(f"collate: images of one batch must share a size, got {sorted(shapes)}")
    h, w = items[0][0].shape[:2]
    array = np.empty((len(items), 3, h, w), np.float32)
    for k, it in enumerate(items):  # HWC uint8 -> CHW float, plane by plane (3x faster than
        for c, plane in enumerate(cv2.split(it[0])):  # a strided permute + float in torch)
            array[k, c] = plane
        array[k] /= 255.0
    images = torch.from_numpy(array)
    rows = []
    for i, it in enumerate(items):
        boxes, labels = np.asarray(it[1], np.float32).reshape(-1, 4), np.asarray(it[2])
        t = np.empty((len(boxes), 6), np.float32)
        t[:, 0], t[:, 1], t[:, 2:] = i, labels, boxes
        rows.append(t)
    targets = torch.from_numpy(np.concatenate(rows) if rows else np.zeros((0, 6), np.float32))
    return images, targets, [it[3] for it in items]


# -- cache and workers ----------------------------------------------------------------------
class RamCache:
    """Decodes every sample of ``dataset`` once, up front, and serves them from RAM (workers
    forked afterwards share the memory). ``nbytes`` is the memory the images take."""

    def __init__(self, dataset: Any) -> None:
        self.names = list(dataset.names)
        self.samples = [dataset[i] for i in range(len(dataset))]
        self.paths = [s.path for s in self.samples]
        self.nbytes = int(sum(s.image.nbytes for s in self.samples))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # one worker = one core; OpenCV's own threads would oversubscribe
    torch.set_num_threads(1)


def worker_context(workers: int) -> Optional[Any]:
    """The multiprocessing context for loader workers (``None`` when ``workers == 0``).

    Workers start from a clean ``forkserver`` process, not by forking this one: a process whose
    OpenCV (pthreads) or OpenMP thread pools are running deadlocks when forked children touch
    those pools (seen: ``cv2.setNumThreads`` hanging in ``pthread_cond_destroy``). The server
    imports torch, OpenCV and this module once, so each worker still starts in milliseconds.
    """
    if not workers:
        return None
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "cv2", __name__])
    return ctx


def _prepare(dataset: Any, cache: bool, training: bool) -> Any:
    if training and hasattr(dataset, "for_training"):
        dataset = dataset.for_training()
    return RamCache(dataset) if cache else dataset


def train_loader(dataset: Any, config: AugmentConfig = AugmentConfig(), *, batch_size: int = 8,
                 shapes: Optional[Union[RandomShapes, Size]] = None, workers: int = 0,
                 seed: int = 0, cache: bool = False, shuffle: bool = True,
                 drop_last: bool = False, pin_memory: bool = False,
                 sampling: str = "epoch") -> DataLoader:
    """The training loader: augmented batches ``(images, targets, paths)``.

    Args:
        dataset: ``names``, ``__len__``, ``__getitem__ -> Sample`` (``for_training()`` is used
            when present, dropping crowd and difficult boxes).
        config: the augmentations (:class:`AugmentConfig`).
        shapes: a :class:`RandomShapes`, or a fixed size (int or ``(h, w)``; default 608).
        workers: worker processes (0 = in the main process); results do not depend on it.
        seed: the run's seed (order, sizes and every augmentation).
        cache: decode all images into RAM first.
        sampling: ``epoch`` (each image once per epoch) or ``replacement`` (Darknet's random
            draws; :class:`ShapeBatchSampler`).
    """
    if not isinstance(shapes, RandomShapes):
        shapes = RandomShapes(608 if shapes is None else shapes, rule="fixed")
    data = _prepare(dataset, cache, True)
    sampler = ShapeBatchSampler(len(data), batch_size, shapes, seed=seed, shuffle=shuffle,
                                drop_last=drop_last, sampling=sampling)
    return DataLoader(AugmentedDataset(data, config), batch_sampler=sampler, collate_fn=collate,
                      num_workers=workers, pin_memory=pin_memory,
                      worker_init_fn=_worker_init if workers else None,
                      multiprocessing_context=worker_context(workers),
                      persistent_workers=False)


