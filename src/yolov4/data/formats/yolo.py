"""YOLO directory layout (``data.yaml`` + ``images/``/``labels/``) and the label-file dataset.

``data.yaml`` keys: ``path`` (root; relative to the yaml file, and if it does not exist the yaml's
own directory is used, so a moved dataset still loads), ``train``, ``val`` (or ``valid``),
``test``, ``names`` (list, or dict ``{index: name}``) and optionally ``nc``. Each split is a
directory of images (searched recursively), a ``.txt`` list of image paths, a single image, or a
list of those. Labels are found by replacing the last ``images`` directory component with
``labels`` and the extension with ``.txt`` (:func:`yolov4.data.labels.label_path_for`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import DataError
from ..dataset import IMAGE_EXTENSIONS, Annotation, DetectionDataset, image_size
from ..labels import Problem, cxcywh_to_xyxy, label_path_for, read_label_file


class LabelFileDataset(DetectionDataset):
    """Images with one Darknet/YOLO label file each (relative ``class cx cy w h`` lines)."""

    format = "yolo"

    def __init__(self, paths: Sequence[str], names: Sequence[str], *,
                 label_dirs: Tuple[str, ...] = ("images",), **kwargs: Any) -> None:
        super().__init__(paths, names, **kwargs)
        self.label_paths = [label_path_for(p, label_dirs) for p in self.paths]
        self._labels: dict = {}

    def _parsed(self, i: int) -> Tuple[np.ndarray, np.ndarray, List[Problem]]:
        hit = self._labels.get(i)
        if hit is None:
            hit = read_label_file(self.label_paths[i], len(self.names))
            self._labels[i] = hit
        return hit

    def _read_annotation(self, i: int, size: Optional[Tuple[int, int]]) -> Annotation:
        labels, rel, problems = self._parsed(i)
        path = self.paths[i]
        problems = list(problems)
        if size is None:
            size = image_size(path)
            if size is None:
                problems.append(Problem(path, 0, "image is missing or does not decode; skipped"))
        h, w = size if size is not None else (1, 1)
        boxes = cxcywh_to_xyxy(rel, w, h) if size is not None else np.zeros((0, 4), np.float32)
        if size is None:
            labels = labels[:0]
        return Annotation(path=path, boxes=boxes, labels=labels, iscrowd=None, difficult=None,
                          image_size=size, image_id=self.image_ids[i], problems=problems)


def list_images(directory: Path) -> List[str]:
    """Every image file under ``directory`` (recursive), sorted."""
    out = []
    for root, _, files in os.walk(directory):
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                out.append(os.path.join(root, name))
    return sorted(out)


def read_list_file(list_path: Path, bases: Sequence[Path]) -> Tuple[List[str], List[Problem]]:
    """Image paths from a list file (one per line); relative entries are tried against the list
    file's directory, then each of ``bases``. Missing images are reported and left out."""
    try:
        lines = list_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise DataError(f"{list_path}: image list cannot be read ({err.strerror})") from None
    paths, problems = [], []
    candidates = [list_path.parent, *bases]
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry:
            continue
        found = resolve_entry(entry, candidates)
        if found is None:
            problems.append(Problem(str(list_path), number, f"image {entry!r} not found; skipped"))
        else:
            paths.append(found)
    return paths, problems


def resolve_entry(entry: str, bases: Sequence[Path]) -> Optional[str]:
    """An existing file for ``entry`` (absolute, relative to the cwd, or to one of ``bases``)."""
    p = Path(entry)
    if p.is_absolute():
        return str(p) if p.is_file() else None
    tries = [Path(entry)] + [b / entry for b in bases]
    if entry.startswith("./"):
        tries = [b / entry[2:] for b in bases] + tries
    for t in tries:
        if t.is_file():
            return os.path.normpath(str(t))
    return None


def parse_names(value: Any, nc: Optional[int], source: str) -> List[str]:
    """``names`` of a data.yaml (list or ``{index: name}``), checked against ``nc``."""
    if value is None:
        if nc is None:
            raise DataError(f"{source}: neither 'names' nor 'nc' is given")
        return [str(k) for k in range(int(nc))]
    if isinstance(value, dict):
        try:
            items = sorted((int(k), str(v)) for k, v in value.items())
        except (TypeError, ValueError):
            raise DataError(f"{source}: 'names' keys must be class indices") from None
        if [k for k, _ in items] != list(range(len(items))):
            raise DataError(f"{source}: 'names' indices must be 0..{len(items) - 1}")
        names = [v for _, v in items]
    elif isinstance(value, (list, tuple)):
        names = [str(v) for v in value]
    else:
        raise DataError(f"{source}: 'names' must be a list or a mapping, "
                        f"not {type(value).__name__}")
    if nc is not None and int(nc) != len(names):
        raise DataError(f"{source}: nc={nc} but {len(names)} names")
    return names


SPLIT_KEYS = {"train": ("train",), "val": ("val", "valid"), "test": ("test",)}


def load_yolo(yaml_path: os.PathLike, split: str = "train", **kwargs: Any) -> LabelFileDataset:
    """Read the ``split`` of a YOLO-layout dataset described by ``yaml_path``."""
    import yaml

    yaml_path = Path(yaml_path)
    try:
        meta = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(f"{yaml_path}: cannot be read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise DataError(f"{yaml_path}: not valid YAML ({err})".replace("\n", " ")) from None
    if not isinstance(meta, dict):
        raise DataError(f"{yaml_path}: expected a mapping with train/val/names")
    names = parse_names(meta.get("names"), meta.get("nc"), str(yaml_path))
    root = Path(str(meta.get("path") or "."))
    if not root.is_absolute():
        root = yaml_path.parent / root
    if not root.is_dir():
        root = yaml_path.parent
    keys = SPLIT_KEYS.get(split, (split,))
    value = next((meta[k] for k in keys if meta.get(k)), None)
    if value is None:
        raise DataError(f"{yaml_path}: no {split!r} split (keys tried: {', '.join(keys)})")
    entries = value if isinstance(value, (list, tuple)) else [value]
    paths: List[str] = []
    problems: List[Problem] = []
    for entry in entries:
        p = Path(str(entry))
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            paths.extend(list_images(p))
        elif p.is_file() and p.suffix.lower() == ".txt":
            found, bad = read_list_file(p, [root, yaml_path.parent])
            paths.extend(found)
            problems.extend(bad)
        elif p.is_file():
            paths.append(str(p))
        else:
            raise DataError(f"{yaml_path}: {split} entry {str(entry)!r} not found (looked at {p})")
    ds = LabelFileDataset(paths, names, source=str(yaml_path), split=split, **kwargs)
    ds.problems.extend(problems)
    ds._report(problems)
    return ds
