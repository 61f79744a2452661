"""The detection dataset base class: images decoded once to RGB, annotations without pixels.

Every reader (:mod:`yolov4.data.formats`) subclasses :class:`DetectionDataset` and implements
:meth:`DetectionDataset._read_annotation`. Users of a dataset see:

- ``names: list[str]``, ``paths: list[str]`` (image files), ``len(ds)``;
- ``ds[i] -> Sample`` (image ``uint8[H, W, 3]`` RGB, boxes ``float32[N, 4]`` xyxy pixels,
  labels ``int64[N]``, ``iscrowd``/``difficult`` ``bool[N]``);
- ``ds.annotations(i) -> Annotation``: the same boxes without decoding the image (the size comes
  from the annotation file or the image header) — for evaluation, anchors, checks;
- ``ds.targets(i) -> dict`` in the :class:`yolov4.eval.Evaluator` target format;
- ``ds.for_training()``: a view without COCO crowd boxes and VOC difficult objects
  (Darknet trains on neither); the dataset itself keeps them for evaluation.

An image that does not decode is skipped with one :class:`DataWarning` naming it: ``ds[i]``
returns the next readable image instead, and the path is added to ``ds.skipped``.
"""
from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

import cv2
import numpy as np

from ..errors import DataError
from .labels import Problem
from .sample import Sample

#: Image file extensions the readers look for.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".ppm",
                    ".pgm", ".pbm")


class DataWarning(UserWarning):
    """A defect in a dataset that was worked around (line rejected, box clipped, image skipped)."""


@dataclass
class Annotation:
    """The ground truth of one image, without its pixels.

    Attributes:
        path: the image file.
        boxes: ``float32[N, 4]`` xyxy pixels.
        labels: ``int64[N]`` 0-based indices into the dataset's ``names``.
        iscrowd: ``bool[N]`` COCO crowd flags (all False for other formats).
        difficult: ``bool[N]`` VOC difficult flags (all False for other formats).
        image_size: ``(height, width)``, or None when the image cannot be read.
        image_id: COCO image id, VOC image id, or the index for label-file formats.
        problems: defects found while reading this image's annotation.
        area: ``float32[N]`` COCO ``area`` (segment area, which COCO's small/medium/large ranges
            use), None for other formats (evaluation then uses the box area).
    """

    path: str
    boxes: np.ndarray
    labels: np.ndarray
    iscrowd: np.ndarray
    difficult: np.ndarray
    image_size: Optional[Tuple[int, int]]
    image_id: object = None
    problems: List[Problem] = field(default_factory=list)
    area: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, np.int64).reshape(-1)
        n = len(self.labels)
        self.iscrowd = (np.zeros(n, bool) if self.iscrowd is None
                        else np.asarray(self.iscrowd, bool).reshape(-1))
        self.difficult = (np.zeros(n, bool) if self.difficult is None
                          else np.asarray(self.difficult, bool).reshape(-1))


def read_image(path: str) -> np.ndarray:
    """Decode an image file to ``uint8[H, W, 3]`` RGB (EXIF orientation ignored, like Darknet).

    Raises:
        DataError: the file is missing or does not decode.
    """
    data = np.fromfile(path, np.uint8) if os.path.isfile(path) else None
    if data is None:
        raise DataError(f"{path}: image file not found")
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise DataError(f"{path}: image does not decode ({data.size} bytes)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_size(path: str) -> Optional[Tuple[int, int]]:
    """``(height, width)`` of an image file from its header (falls back to decoding), or None."""
    try:
        from PIL import Image  # optional: header-only read, ~100x faster than decoding
        with Image.open(path) as im:
            w, h = im.size
        return int(h), int(w)
    except ImportError:
        pass
    except Exception:  # PIL could not parse it; let OpenCV decide
        pass
    try:
        image = read_image(path)
    except DataError:
        return None
    return int(image.shape[0]), int(image.shape[1])


class DetectionDataset:
    """Base of every dataset reader (see the module docstring for the interface).

    Subclasses set ``names``, ``paths``, ``format`` and implement :meth:`_read_annotation`.

    Attributes:
        names: class names; labels index into it.
        paths: image files, one per sample.
        category_ids: the class index -> category id used when writing COCO JSON (the original
            ids for COCO datasets, ``0..C-1`` otherwise).
        image_ids: per sample, the id evaluation should report (COCO image ids, VOC ids, or
            the index).
        problems: defects found while loading the index (annotation problems are added as
            images are read); see :mod:`yolov4.data.check`.
        skipped: images that did not decode.
    """

    format = "base"

    def __init__(self, paths: Sequence[str], names: Sequence[str], *, source: str = "",
                 split: str = "train", cache_images: bool = False) -> None:
        self.paths: List[str] = [str(p) for p in paths]
        self.names: List[str] = list(names)
        self.source = str(source)
        self.split = split
        self.category_ids: List[int] = list(range(len(self.names)))
        self.image_ids: List[object] = list(range(len(self.paths)))
        self.problems: List[Problem] = []
        self.skipped: Set[str] = set()
        self.cache_images = cache_images
        self.training = False
        self.drop_difficult = True
        self._images: Dict[int, np.ndarray] = {}
        self._annotations: Dict[int, Annotation] = {}
        self._warned: Set[Tuple[str, int, str]] = set()

    # -- to implement -------------------------------------------------------------------------
    def _read_annotation(self, i: int, size: Optional[Tuple[int, int]]) -> Annotation:
        """The annotation of sample ``i``; ``size`` is ``(h, w)`` of the decoded image when
        known (label-file formats need it to turn relative boxes into pixels)."""
        raise NotImplementedError

    # -- public -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.source!r}, split={self.split!r}, "
                f"images={len(self)}, classes={len(self.names)})")

    def annotations(self, i: int) -> Annotation:
        """Ground truth of sample ``i`` without decoding the image (crowd/difficult kept)."""
        i = self._index(i)
        ann = self._annotations.get(i)
        if ann is None:
            ann = self._read_annotation(i, None)
            self._report(ann.problems)
            self._annotations[i] = ann
        return ann

    def targets(self, i: int) -> dict:
        """Sample ``i`` as an Evaluator target: ``boxes`` ``Tensor[N, 4]`` xyxy px, ``labels``
        ``Tensor[N]`` int64, ``iscrowd``/``difficult`` ``Tensor[N]`` bool, ``image_id``,
        ``image_size`` ``(h, w)``, ``path``, and for COCO ``area`` ``Tensor[N]`` float32."""
        import torch

        ann = self.annotations(i)
        extra = {} if ann.area is None else {"area": torch.from_numpy(ann.area.copy())}
        return {**extra, "boxes": torch.from_numpy(ann.boxes.copy()),
                "labels": torch.from_numpy(ann.labels.copy()),
                "iscrowd": torch.from_numpy(ann.iscrowd.copy()),
                "difficult": torch.from_numpy(ann.difficult.copy()),
                "image_id": ann.image_id, "image_size": ann.image_size, "path": ann.path}

    def load_image(self, i: int) -> np.ndarray:
        """Decoded ``uint8[H, W, 3]`` RGB image of sample ``i`` (raises DataError if unreadable)."""
        i = self._index(i)
        image = self._images.get(i)
        if image is None:
            image = read_image(self.paths[i])
            if self.cache_images:
                self._images[i] = image
        return image

    def __getitem__(self, i: int) -> Sample:
        i = self._index(i)
        for k in range(len(self)):
            j = (i + k) % len(self)
            try:
                image = self.load_image(j)
            except DataError as err:
                self._skip(self.paths[j], str(err))
                continue
            return self._sample(j, image)
        raise DataError(f"{self.source}: no image of the {self.split!r} split decodes")

    def for_training(self, drop_difficult: bool = True) -> "DetectionDataset":
        """A view of this dataset whose samples leave out crowd boxes (and, by default, VOC
        difficult objects, as Darknet's ``voc_label.py`` does). Caches are shared."""
        view = copy.copy(self)
        view.training = True
        view.drop_difficult = drop_difficult
        return view

    def enable_cache(self) -> None:
        """Keep decoded images in RAM (per process) from now on."""
        self.cache_images = True

    def all_problems(self) -> List[Problem]:
        """Index problems plus the problems of every annotation (reads all annotations)."""
        out = list(self.problems)
        for i in range(len(self)):
            out.extend(self.annotations(i).problems)
        return out

    # -- helpers ------------------------------------------------------------------------------
    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample {i} out of range for {n} images")
        return i % n

    def _sample(self, i: int, image: np.ndarray) -> Sample:
        size = (int(image.shape[0]), int(image.shape[1]))
        ann = self._annotations.get(i)
        if ann is None or ann.image_size != size:
            fresh = self._read_annotation(i, size)
            if ann is None:
                self._report(fresh.problems)
                self._annotations[i] = fresh
            ann = fresh
        keep = np.ones(len(ann.labels), bool)
        if self.training:
            keep &= ~ann.iscrowd
            if self.drop_difficult:
                keep &= ~ann.difficult
        return Sample(image=image, boxes=ann.boxes[keep].copy(), labels=ann.labels[keep].copy(),
                      path=ann.path, iscrowd=ann.iscrowd[keep].copy(),
                      difficult=ann.difficult[keep].copy())

    def _skip(self, path: str, message: str) -> None:
        if path not in self.skipped:
            self.skipped.add(path)
            warnings.warn(DataWarning(f"{message}; skipped"), stacklevel=3)

    def _report(self, problems: Sequence[Problem]) -> None:
        for p in problems:
            key = (p.file, p.line, p.message)
            if key not in self._warned:
                self._warned.add(key)
                warnings.warn(DataWarning(str(p)), stacklevel=3)
