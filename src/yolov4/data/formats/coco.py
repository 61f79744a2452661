"""COCO instances JSON (``images``, ``annotations`` with ``bbox = [x, y, w, h]`` pixels,
``categories``).

Category ids are mapped to 0-based class indices in **sorted id order**; the dataset keeps the
mapping (``ds.category_ids[index] = id``) and the COCO image ids (``ds.image_ids``) so evaluation
can write results pycocotools understands. Crowd boxes (``iscrowd=1``) are kept with
``iscrowd=True`` (evaluation ignores matches to them) and left out by ``ds.for_training()``.
Boxes with no area are dropped, boxes reaching past the image are clipped, both reported.
"""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import DataError
from ..dataset import Annotation, DetectionDataset
from ..labels import Problem

#: Boxes may pass the image border by this many pixels before it is reported.
BORDER_TOLERANCE = 1.0


class CocoDataset(DetectionDataset):
    """One COCO instances JSON and its image directory."""

    format = "coco"

    def __init__(self, json_path: str, data: dict, image_dir: Path, *, split: str = "train",
                 **kwargs: Any) -> None:
        cats = sorted(data.get("categories", []), key=lambda c: int(c["id"]))
        if not cats:
            raise DataError(f"{json_path}: no categories")
        images = list(data.get("images", []))
        super().__init__([str(image_dir / str(im["file_name"])) for im in images],
                         [str(c["name"]) for c in cats], source=json_path, split=split, **kwargs)
        self.category_ids = [int(c["id"]) for c in cats]
        self.image_ids = [im["id"] for im in images]
        self._sizes = [(int(im.get("height", 0)), int(im.get("width", 0))) for im in images]
        index_of = {cid: k for k, cid in enumerate(self.category_ids)}
        row_of = {im["id"]: k for k, im in enumerate(images)}
        self._anns: Dict[int, List[dict]] = defaultdict(list)
        for ann in data.get("annotations", []):
            k = row_of.get(ann.get("image_id"))
            if k is None:
                self.problems.append(Problem(json_path, 0, f"annotation {ann.get('id')} refers to "
                                             f"unknown image id {ann.get('image_id')}; ignored"))
            elif ann.get("category_id") not in index_of:
                self.problems.append(Problem(json_path, 0, f"annotation {ann.get('id')} has "
                                             f"unknown category id {ann.get('category_id')}; "
                                             "ignored"))
            else:
                self._anns[k].append(ann)
        self._index_of = index_of
        self._report(self.problems)

    def _read_annotation(self, i: int, size: Optional[Tuple[int, int]]) -> Annotation:
        h, w = self._sizes[i]
        problems: List[Problem] = []
        if h <= 0 or w <= 0:
            from ..dataset import image_size
            got = size or image_size(self.paths[i])
            if got is None:
                problems.append(Problem(self.paths[i], 0, "image is missing or does not decode; "
                                        "skipped"))
                got = (0, 0)
            h, w = got
        boxes, labels, crowd, difficult, area = [], [], [], [], []
        for ann in self._anns.get(i, ()):
            where = f"annotation {ann.get('id')} of {os.path.basename(self.paths[i])}"
            try:
                x, y, bw, bh = (float(v) for v in ann["bbox"])
            except (KeyError, TypeError, ValueError):
                problems.append(Problem(self.source, 0, f"{where}: bbox is not 4 numbers; "
                                        "rejected"))
                continue
            if not all(np.isfinite([x, y, bw, bh])) or bw <= 0 or bh <= 0:
                problems.append(Problem(self.source, 0, f"{where}: bbox {[x, y, bw, bh]} has no "
                                        "area; rejected", fatal=False))
                continue
            x1, y1, x2, y2 = x, y, x + bw, y + bh
            if w > 0 and h > 0:
                if (min(x1, y1) < -BORDER_TOLERANCE or x2 > w + BORDER_TOLERANCE
                        or y2 > h + BORDER_TOLERANCE):
                    problems.append(Problem(self.source, 0, f"{where}: bbox {[x, y, bw, bh]} "
                                            f"leaves the {w}x{h} image; clipped", fatal=False))
                x1, x2 = min(max(x1, 0.0), w), min(max(x2, 0.0), w)
                y1, y2 = min(max(y1, 0.0), h), min(max(y2, 0.0), h)
                if x2 <= x1 or y2 <= y1:
                    problems.append(Problem(self.source, 0, f"{where}: bbox outside the image; "
                                            "rejected"))
                    continue
            boxes.append((x1, y1, x2, y2))
            labels.append(self._index_of[ann["category_id"]])
            crowd.append(bool(ann.get("iscrowd", 0)))
            difficult.append(bool(ann.get("difficult", 0)))  # written by yolov4 data convert
            area.append(float(ann.get("area", bw * bh)))
        return Annotation(path=self.paths[i], boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                          labels=labels, iscrowd=crowd, difficult=difficult,
                          image_size=(h, w) if h > 0 else None, image_id=self.image_ids[i],
                          problems=problems, area=np.asarray(area, np.float32))


def _split_dir(json_path: Path) -> Optional[str]:
    m = re.match(r"(?:instances|annotations)_(.+)$", json_path.stem)
    return m.group(1) if m else None


def find_image_dir(json_path: Path, first_file: Optional[str]) -> Path:
    """The directory ``file_name`` entries are relative to: tried next to the JSON, its parent,
    ``images/<split>``, ``<split>`` and ``images``; raises DataError if none holds the images."""
    parent, root = json_path.parent, json_path.parent.parent
    split = _split_dir(json_path)
    tries: List[Path] = []
    if split:
        tries += [root / "images" / split, root / split, parent / split, parent / "images" / split]
    tries += [root / "images", parent / "images", root, parent]
    if first_file is None:
        return next((t for t in tries if t.is_dir()), parent)
    for t in tries:
        if (t / first_file).is_file():
            return t
    raise DataError(f"{json_path}: cannot find image {first_file!r}; looked in "
                    f"{', '.join(str(t) for t in tries)} (pass images=DIR)")


def find_json(directory: Path, split: str) -> Path:
    """``annotations/instances_<split>*.json`` (``val`` also matches ``valid``/``val2017``)."""
    ann = directory / "annotations"
    found = sorted(ann.glob(f"instances_{split}*.json")) or sorted(ann.glob(f"*{split}*.json"))
    if not found:
        raise DataError(f"{directory}: no annotations/instances_{split}*.json")
    return found[0]


def load_coco(path: os.PathLike, split: str = "train", *, images: Optional[os.PathLike] = None,
              **kwargs: Any) -> CocoDataset:
    """Read a COCO instances JSON (or the ``split`` JSON of a COCO directory)."""
    p = Path(path)
    json_path = find_json(p, split) if p.is_dir() else p
    try:
        with open(json_path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except OSError as err:
        raise DataError(f"{json_path}: cannot be read ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{json_path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or "images" not in data:
        raise DataError(f"{json_path}: not a COCO instances file (no 'images')")
    first = data["images"][0]["file_name"] if data["images"] else None
    image_dir = Path(images) if images is not None else find_image_dir(json_path, first)
    return CocoDataset(str(json_path), data, image_dir, split=split, **kwargs)


def category_index(ids: Sequence[int]) -> Dict[int, int]:
    """``category id -> 0-based index`` in sorted id order (the mapping the reader uses)."""
    return {cid: k for k, cid in enumerate(sorted(ids))}
