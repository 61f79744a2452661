"""Classification datasets: folder per class, or Darknet's classifier lists.

Two layouts:

- **folder per class** (the common layout, torchvision's ``ImageFolder``): ``ROOT/train/<class>/
  *.jpg`` and ``ROOT/val/<class>/*.jpg`` (``valid``/``test`` are accepted for ``val``), or
  ``ROOT/<class>/*.jpg`` with no split folders (then it is the training split). Class names are
  the sorted folder names of the training split; every split uses that list.
- **Darknet** ``.data`` (``src/classifier.c: train_classifier``): ``train=`` / ``valid=`` list
  files (one image path per line), ``labels=`` the class names file (one per line; ``names=`` is
  accepted too), ``classes=``, ``top=``. The class of an image is taken from its **path** as
  Darknet does (``src/data.c: fill_truth``): the names that occur in the path as a substring
  (``strstr``); exactly one must match. Darknet prints "Too many or too few labels" and trains
  on a zero or multi-hot truth; here such an image is an error naming it (``data check`` lists
  them all).

A dataset: ``names``, ``__len__``, ``__getitem__(i) -> ClassSample``, ``paths``, ``labels``
(``int`` per image, known without decoding), ``counts()``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError
from .dataset import read_image
from .formats.darknet import read_data_file, read_names
from .dataset import IMAGE_EXTENSIONS
from .formats.yolo import read_list_file

SPLIT_DIRS = {"train": ("train",), "val": ("val", "valid", "validation", "test"),
              "test": ("test", "val", "valid")}
DATA_KEYS = {"train": ("train",), "val": ("valid", "val"), "test": ("test", "valid")}


@dataclass
class ClassSample:
    """One image: ``image`` uint8[H, W, 3] RGB, ``label`` class index, ``path``."""

    image: np.ndarray
    label: int
    path: str


class ClassificationDataset:
    """Images with one class each. ``paths[i]``, ``labels[i]``, ``names``; ``source`` names
    where it came from (for messages)."""

    def __init__(self, paths: Sequence[str], labels: Sequence[int], names: Sequence[str],
                 source: str = "") -> None:
        if len(paths) != len(labels):
            raise DataError(f"{source}: {len(paths)} paths but {len(labels)} labels")
        self.paths = [str(p) for p in paths]
        self.labels = [int(v) for v in labels]
        self.names = list(names)
        self.source = source

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> ClassSample:
        return ClassSample(read_image(self.paths[i]), self.labels[i], self.paths[i])

    def counts(self) -> List[int]:
        """Images per class (index as ``names``)."""
        return np.bincount(np.asarray(self.labels, np.int64), minlength=len(self.names)).tolist()

    def empty_classes(self) -> List[str]:
        return [n for n, c in zip(self.names, self.counts()) if c == 0]


def _images_in(folder: Path) -> List[str]:
    out = []
    for root, _, files in os.walk(folder):
        out += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(out)


def _class_dirs(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _split_folder(root: Path, split: str) -> Tuple[Path, Path]:
    """``(folder of the split, folder that defines the class names)``."""
    names_dir = next((root / d for d in SPLIT_DIRS["train"] if (root / d).is_dir()), None)
    if names_dir is None:           # ROOT/<class>/...: one split, the training one
        if split != "train":
            raise DataError(f"{root}: no {split} split (expected a folder "
                            f"{' or '.join(SPLIT_DIRS[split])} next to 'train')")
        return root, root
    for d in SPLIT_DIRS[split]:
        if (root / d).is_dir():
            return root / d, names_dir
    raise DataError(f"{root}: no {split} split (expected a folder "
                    f"{' or '.join(SPLIT_DIRS[split])} next to 'train')")


def load_folder(root: os.PathLike, split: str = "train", *,
                allow_empty: bool = False) -> ClassificationDataset:
    """The ``split`` of a folder-per-class dataset (see the module docstring).

    Raises:
        DataError: no class folders, a class folder of the split without images (unless
            ``allow_empty``; ``data check`` uses it to report every problem), or a folder of the
            split that is not a class of the training split.
    """
    root = Path(root)
    folder, names_dir = _split_folder(root, split)
    names = [p.name for p in _class_dirs(names_dir)]
    if not names:
        raise DataError(f"{names_dir}: no class folders (expected {names_dir}/<class>/*.jpg)")
    extra = [p.name for p in _class_dirs(folder) if p.name not in names]
    if extra:
        raise DataError(f"{folder}: folders {', '.join(extra)} are not classes of "
                        f"{names_dir} ({', '.join(names)})")
    paths: List[str] = []
    labels: List[int] = []
    for k, name in enumerate(names):
        found = _images_in(folder / name) if (folder / name).is_dir() else []
        paths += found
        labels += [k] * len(found)
    ds = ClassificationDataset(paths, labels, names, source=str(folder))
    empty = ds.empty_classes()
    if empty and not allow_empty:
        raise DataError(f"{folder}: class{'es' if len(empty) > 1 else ''} "
                        f"{', '.join(empty)} {'have' if len(empty) > 1 else 'has'} no images "
                        f"(add images to {folder}/<class>/ or remove the folder from "
                        f"{names_dir}; `yolov4 data check {root}` lists every problem)")
    return ds


def labels_in_path(path: str, names: Sequence[str]) -> List[int]:
    """Darknet's rule (``fill_truth``): indices of the names that occur in ``path``."""
    return [k for k, n in enumerate(names) if n and n in path]


def load_darknet_list(data_path: os.PathLike, split: str = "train", *,
                      allow_bad: bool = False) -> ClassificationDataset:
    """The ``split`` of a Darknet classifier ``.data`` file (see the module docstring).

    Raises:
        DataError: missing keys or files, or (unless ``allow_bad``) images whose path names no
            class or several (each listed with the names found).
    """
    data_path = Path(data_path)
    meta = read_data_file(data_path)
    key = next((k for k in DATA_KEYS[split] if k in meta), None)
    if key is None:
        raise DataError(f"{data_path}: no {' or '.join(DATA_KEYS[split])}= list for the "
                        f"{split} split")
    names_key = "labels" if "labels" in meta else "names" if "names" in meta else None
    if names_key is None:
        raise DataError(f"{data_path}: no labels= file (the class names, one per line)")
    bases = [Path.cwd(), data_path.parent]
    names_file = Path(meta[names_key])
    if not names_file.is_absolute() and not names_file.exists():
        names_file = data_path.parent / names_file
    names = read_names(names_file)
    if "classes" in meta and int(meta["classes"]) != len(names):
        raise DataError(f"{data_path}: classes={meta['classes']} but {names_file} has "
                        f"{len(names)} names")
    list_file = Path(meta[key])
    if not list_file.is_absolute() and not list_file.exists():
        list_file = data_path.parent / list_file
    paths, problems = read_list_file(list_file, bases)
    if problems and not allow_bad:
        shown = "; ".join(f"{p.file}:{p.line}: {p.message}" for p in problems[:5])
        raise DataError(f"{len(problems)} missing images in {list_file}: {shown}")
    labels, bad = [], []
    for p in paths:
        found = labels_in_path(p, names)
        if len(found) != 1:
            bad.append((p, found))
        labels.append(found[0] if found else -1)
    if bad and not allow_bad:
        p, found = bad[0]
        what = ("no class name" if not found
                else "several class names (" + ", ".join(names[k] for k in found) + ")")
        raise DataError(f"{list_file}: {len(bad)} image paths name no class or several (Darknet "
                        f"takes the class from the path); first: {p} contains {what}")
    keep = [i for i, v in enumerate(labels) if v >= 0]
    ds = ClassificationDataset([paths[i] for i in keep], [labels[i] for i in keep], names,
                               source=str(list_file))
    ds.bad_paths = bad  # type: ignore[attr-defined]
    ds.top = int(meta.get("top", 1))  # type: ignore[attr-defined]
    return ds


def load_classification(path: os.PathLike, split: str = "train", **kwargs) -> ClassificationDataset:
    """A folder-per-class directory or a Darknet classifier ``.data`` file."""
    p = Path(path)
    if p.is_dir():
        return load_folder(p, split, allow_empty=kwargs.get("allow_empty", False))
    if p.suffix == ".data" and p.is_file():
        return load_darknet_list(p, split, allow_bad=kwargs.get("allow_bad", False))
    if not p.exists():
        raise DataError(f"{p}: dataset not found")
    raise DataError(f"{p}: not a classification dataset (expected a folder with "
                    f"train/<class>/ images or a Darknet classifier .data file)")


def is_classification_data(path: os.PathLike) -> bool:
    """Whether ``path`` looks like a classification dataset (folder of class folders or a
    ``.data`` with ``labels=``)."""
    p = Path(path)
    if p.is_dir():
        base = next((p / d for d in ("train",) if (p / d).is_dir()), p)
        return bool(_class_dirs(base)) and not (p / "images").is_dir() \
            and not (p / "labels").is_dir() and not (p / "Annotations").is_dir()
    if p.suffix == ".data" and p.is_file():
        try:
            return "labels" in read_data_file(p)
        except DataError:
            return False
    return False


__all__ = ["ClassSample", "ClassificationDataset", "is_classification_data", "labels_in_path",
           "load_classification", "load_darknet_list", "load_folder"]
