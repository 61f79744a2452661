"""COCO results JSON ``[{image_id | file_name, category_id, bbox, score}]`` <-> datasets.

Convention shared with ``yolov4 detect --save-json``: an entry names its image by ``image_id``
(COCO datasets: the annotation file's id) or ``file_name`` (any dataset: the image file name,
or its path relative to the dataset), and its class by the dataset's category id (COCO) or the
0-based class index (YOLO, Darknet, VOC). ``bbox`` is ``[x, y, w, h]`` in image pixels.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import DataError


def _entry_error(path: str, k: int, msg: str) -> DataError:
    return DataError(f"{path}: entry {k}: {msg}")


class ImageIndex:
    """Finds the dataset row of a results entry by ``image_id`` or ``file_name``."""

    def __init__(self, dataset: Any) -> None:
        self.is_coco = getattr(dataset, "format", "") == "coco"
        ids = list(getattr(dataset, "image_ids", range(len(dataset.paths))))
        self.by_id: Dict[Any, int] = {}
        for i, v in enumerate(ids):
            self.by_id.setdefault(v, i)
            self.by_id.setdefault(str(v), i)
        self.by_path: Dict[str, int] = {}
        self.by_name: Dict[str, int] = {}
        dupes = set()
        for i, p in enumerate(dataset.paths):
            self.by_path[os.path.normpath(p)] = i
            name = os.path.basename(p)
            if name in self.by_name:
                dupes.add(name)
            self.by_name[name] = i
        for name in dupes:  # an ambiguous base name must be given as a longer path
            del self.by_name[name]
        self.dupes = dupes

    def find(self, entry: dict, source: str, k: int) -> int:
        if "image_id" in entry and (self.is_coco or "file_name" not in entry):
            key = entry["image_id"]
            if key in self.by_id:
                return self.by_id[key]
            if "file_name" not in entry:
                raise _entry_error(source, k, f"unknown image_id {key!r} (not in the dataset)")
        name = entry.get("file_name")
        if name is None:
            raise _entry_error(source, k, "has neither 'image_id' nor 'file_name'")
        name = str(name)
        norm = os.path.normpath(name)
        if norm in self.by_path:
            return self.by_path[norm]
        if os.path.basename(name) in self.by_name:
            return self.by_name[os.path.basename(name)]
        for p, i in self.by_path.items():  # a path relative to the dataset root
            if p.endswith(os.sep + norm):
                return i
        why = " (several images share that name)" if os.path.basename(name) in self.dupes else ""
        raise _entry_error(source, k, f"unknown file_name '{name}'{why}")


def load_results(path: os.PathLike, dataset: Any) -> List[Dict[str, np.ndarray]]:
    """Read a COCO results JSON into per-image predictions aligned with ``dataset``.

    Returns:
        one dict per dataset image: ``boxes float64[N, 4]`` xyxy px, ``scores float64[N]``,
        ``labels int64[N]`` (0-based).

    Raises:
        DataError: unreadable JSON, an entry with an unknown image or class, a malformed bbox.
    """
    src = os.fspath(path)
    try:
        with open(src, encoding="utf-8") as f:
            entries = json.load(f)
    except OSError as err:
        raise DataError(f"{src}: cannot read predictions ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{src}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if isinstance(entries, dict) and "annotations" in entries:
        entries = entries["annotations"]
    if not isinstance(entries, list):
        raise DataError(f"{src}: expected a JSON list of detections")
    index = ImageIndex(dataset)
    nc = len(dataset.names)
    cat_ids = list(getattr(dataset, "category_ids", range(nc)))
    label_of = ({int(c): k for k, c in enumerate(cat_ids)} if index.is_coco
                else {k: k for k in range(nc)})
    rows: List[List[tuple]] = [[] for _ in dataset.paths]
    for k, e in enumerate(entries):
        if not isinstance(e, dict):
            raise _entry_error(src, k, "is not an object")
        i = index.find(e, src, k)
        try:
            cat = e["category_id"]
            cat = int(cat) if float(cat) == int(cat) else None
        except (KeyError, TypeError, ValueError):
            raise _entry_error(src, k, "has no integer 'category_id'") from None
        if cat not in label_of:
            kind = "category id" if index.is_coco else "class index"
            raise _entry_error(src, k, f"unknown {kind} {e['category_id']} (dataset has {nc} "
                                       "classes)")
        try:
            x, y, w, h = (float(v) for v in e["bbox"])
            score = float(e.get("score", 1.0))
        except (KeyError, TypeError, ValueError):
            raise _entry_error(src, k, "needs 'bbox': [x, y, w, h] and a numeric 'score'") \
                from None
        if not np.isfinite([x, y, w, h, score]).all():
            raise _entry_error(src, k, "bbox or score is NaN/inf")
        rows[i].append((x, y, x + w, y + h, score, label_of[cat]))
    out = []
    for r in rows:
        a = np.asarray(r, np.float64).reshape(-1, 6)
        out.append({"boxes": a[:, :4], "scores": a[:, 4], "labels": a[:, 5].astype(np.int64)})
    return out


def results_entries(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                    path: Optional[str], image_id: Any = None,
                    category_ids: Optional[Sequence[int]] = None) -> List[Dict[str, Any]]:
    """COCO result entries of one image (``boxes`` ``float[N, 4]`` xyxy px); ``image_id`` is
    written when given (COCO datasets), ``file_name`` always."""
    out = []
    name = os.path.basename(path) if path else None
    for (x1, y1, x2, y2), s, c in zip(np.asarray(boxes, np.float64).tolist(),
                                      np.asarray(scores, np.float64).tolist(),
                                      np.asarray(labels, np.int64).tolist()):
        rec: Dict[str, Any] = {}
        if image_id is not None:
            rec["image_id"] = image_id
        rec["file_name"] = name
        rec["category_id"] = int(category_ids[c]) if category_ids is not None else int(c)
        rec["bbox"] = [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)]
        rec["score"] = round(float(s), 6)
        out.append(rec)
    return out


def write_results(path: os.PathLike, entries: List[Dict[str, Any]]) -> None:
    """Write COCO result entries as JSON (parent directories created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(entries), encoding="utf-8")
