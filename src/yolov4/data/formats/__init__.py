"""Dataset readers (Darknet, YOLO, COCO, Pascal VOC) and ``load_dataset``, which tells them apart.

``load_dataset(path, split)`` accepts:

- a YOLO ``data.yaml`` (or ``.yml``), or a directory holding one;
- a Darknet ``.data`` file (``train=``, ``valid=``, ``names=``), or a directory holding one;
- a COCO instances ``.json`` file, or a directory with ``annotations/instances_<split>*.json``;
- a Pascal VOC directory (``Annotations/``, ``ImageSets/Main/``, ``JPEGImages/``), also the
  ``VOCdevkit/VOC20xx`` level above it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List

from ...errors import DataError
from ..dataset import DetectionDataset

FORMATS = ("darknet", "yolo", "coco", "voc")


def detect_format(path: os.PathLike) -> "tuple[str, Path]":
    """``(format, file or directory to read)`` for a dataset path; raises DataError if unknown."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: dataset not found")
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix in (".yaml", ".yml"):
            return "yolo", p
        if suffix == ".data":
            return "darknet", p
        if suffix == ".json":
            return "coco", p
        raise DataError(f"{p}: unknown dataset file (expected data.yaml, obj.data, a COCO .json "
                        "or a VOC directory)")
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (p / name).is_file():
            return "yolo", p / name
    datas = sorted(p.glob("*.data"))
    if len(datas) == 1:
        return "darknet", datas[0]
    if (p / "annotations").is_dir() and any((p / "annotations").glob("*.json")):
        return "coco", p
    if (p / "Annotations").is_dir():
        return "voc", p
    years = sorted(p.glob("VOC*/Annotations")) + sorted(p.glob("VOCdevkit/VOC*/Annotations"))
    if years:
        return "voc", years[-1].parent
    yamls = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
    if len(yamls) == 1:
        return "yolo", yamls[0]
    raise DataError(f"{p}: cannot tell the dataset format (no data.yaml, *.data, "
                    "annotations/*.json or Annotations/ found)")


def load_dataset(path: os.PathLike, split: str = "train", **kwargs: Any) -> DetectionDataset:
    """Read the ``split`` (``"train"``, ``"val"``, ``"test"``) of a dataset in any known format.

    Keyword arguments go to the reader (``cache_images``; ``images=`` image directory for COCO;
    ``names=`` class list for VOC).
    """
    fmt, target = detect_format(path)
    if fmt == "yolo":
        from .yolo import load_yolo
        return load_yolo(target, split, **kwargs)
    if fmt == "darknet":
        from .darknet import load_darknet
        return load_darknet(target, split, **kwargs)
    if fmt == "coco":
        from .coco import load_coco
        return load_coco(target, split, **kwargs)
    from .voc import load_voc
    return load_voc(target, split, **kwargs)


__all__: List[str] = ["FORMATS", "detect_format", "load_dataset"]
