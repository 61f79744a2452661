"""COCO metrics: in-memory ground truth and detections as COCO dicts, summarised by a field library.

The numbers come from ``pycocotools`` or ``faster-coco-eval`` (a C++ port with identical
results, ~10x faster); this module only builds their input without JSON files and reads their
output. Boxes arrive as ``float[N, 4]`` xyxy pixels and become COCO ``[x, y, w, h]`` in float64
(``w = x2 - x1``), so a test that converts the same way feeds the oracle identical numbers.

Ground-truth ``area`` (used for the small/medium/large ranges) is the box area unless the
caller supplies one (COCO's annotation files hold the *segmentation* area). Detection areas are
``w * h`` as pycocotools' ``loadRes`` computes them.
"""
from __future__ import annotations

import contextlib
import gc
import io
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

STAT_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl",
             "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
BACKENDS = ("auto", "faster_coco_eval", "pycocotools")


def coco_backend(name: str = "auto") -> Tuple[Any, Any, str]:
    """``(COCO, COCOeval, name)`` of the requested library; ``auto`` prefers faster-coco-eval."""
    if name not in BACKENDS:
        raise ValueError(f"unknown COCO backend '{name}', expected one of {BACKENDS}")
    if name in ("auto", "faster_coco_eval"):
        try:
            from faster_coco_eval import COCO, COCOeval_faster
            return COCO, COCOeval_faster, "faster_coco_eval"
        except ImportError:
            if name == "faster_coco_eval":
                raise
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    return COCO, COCOeval, "pycocotools"


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``float[N, 4]`` xyxy -> ``float64[N, 4]`` COCO xywh (computed in float64)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)


@dataclass
class CocoImages:
    """Columnar ground truth and detections of many images, ready for COCO conversion.

    Per image ``i`` (``ids[i]`` its COCO image id, ``sizes[i] = (h, w)``):
    ``gt_boxes[i]`` float64[G, 4] xyxy px, ``gt_labels[i]`` int64[G] 0-based, ``gt_crowd[i]``
    bool[G], ``gt_area[i]`` float64[G] or None (box area); ``dt_boxes[i]`` float64[D, 4] xyxy,
    ``dt_scores[i]`` float64[D], ``dt_labels[i]`` int64[D].
    """

    ids: List[int] = field(default_factory=list)
    sizes: List[Tuple[int, int]] = field(default_factory=list)
    gt_boxes: List[np.ndarray] = field(default_factory=list)
    gt_labels: List[np.ndarray] = field(default_factory=list)
    gt_crowd: List[np.ndarray] = field(default_factory=list)
    gt_area: List[Optional[np.ndarray]] = field(default_factory=list)
    dt_boxes: List[np.ndarray] = field(default_factory=list)
    dt_scores: List[np.ndarray] = field(default_factory=list)
    dt_labels: List[np.ndarray] = field(default_factory=list)


def _box_area(boxes: np.ndarray) -> np.ndarray:
    wh = xyxy_to_xywh(boxes)[:, 2:]
    return wh[:, 0] * wh[:, 1]


def _repeat_ids(ids: Sequence[int], counts: Sequence[int]) -> List[int]:
    return np.repeat(np.asarray(ids, np.int64), np.asarray(counts, np.int64)).tolist()


def gt_dataset(data: CocoImages, num_classes: int, names: Optional[Sequence[str]] = None) -> dict:
    """The ground truth as a COCO dataset dict; category id = class index + 1."""
    images = [{"id": int(i), "height": int(h), "width": int(w)}
              for i, (h, w) in zip(data.ids, data.sizes)]
    cats = [{"id": c + 1, "name": names[c] if names else str(c)} for c in range(num_classes)]
    counts = [len(b) for b in data.gt_boxes]
    if sum(counts) == 0:
        return {"images": images, "annotations": [], "categories": cats}
    boxes = xyxy_to_xywh(np.concatenate(data.gt_boxes))
    areas = np.concatenate([a if a is not None else _box_area(b)
                            for a, b in zip(data.gt_area, data.gt_boxes)])
    labels = (np.concatenate(data.gt_labels) + 1).tolist()
    crowd = np.concatenate(data.gt_crowd).astype(np.int64).tolist()
    img_ids = _repeat_ids(data.ids, counts)
    anns = [{"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "area": a, "iscrowd": z}
            for k, (i, c, b, a, z) in enumerate(zip(img_ids, labels, boxes.tolist(),
                                                     areas.tolist(), crowd))]
    return {"images": images, "annotations": anns, "categories": cats}


def dt_annotations(data: CocoImages) -> List[dict]:
    """The detections as COCO result entries (with ``id``, ``area``, ``iscrowd`` as ``loadRes``)."""
    counts = [len(b) for b in data.dt_boxes]
    if sum(counts) == 0:
        return []
    boxes = xyxy_to_xywh(np.concatenate(data.dt_boxes))
    areas = (boxes[:, 2] * boxes[:, 3]).tolist()
    scores = np.concatenate(data.dt_scores).astype(np.float64).tolist()
    labels = (np.concatenate(data.dt_labels) + 1).tolist()
    img_ids = _repeat_ids(data.ids, counts)
    return [{"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "score": s, "area": a,
             "iscrowd": 0}
            for k, (i, c, b, s, a) in enumerate(zip(img_ids, labels, boxes.tolist(), scores,
                                                     areas))]


@dataclass
class CocoResult:
    """Output of :func:`coco_evaluate`.

    ``stats``: the 12 numbers of ``COCOeval.summarize()`` in :data:`STAT_KEYS` order (-1 where
    the ground truth has no object in that area range, as pycocotools). ``precision``:
    ``float[T, R, K, A, M]`` from ``accumulate()``. ``class_ap`` / ``class_ap50``: ``float[K]``
    AP@[.5:.95] and AP50 per class over all areas, maxDets 100 (-1 = class without ground truth).
    """

    stats: np.ndarray
    precision: np.ndarray
    class_ap: np.ndarray
    class_ap50: np.ndarray
    backend: str

    def as_dict(self) -> Dict[str, float]:
        return {f"coco.{k}": float(v) for k, v in zip(STAT_KEYS, self.stats)}


def _class_ap(precision: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    p = precision[:, :, :, 0, -1]  # T, R, K at area "all", maxDets 100
    ap, ap50 = [], []
    for k in range(p.shape[2]):
        v = p[:, :, k]
        ap.append(float(np.mean(v[v > -1])) if (v > -1).any() else -1.0)
        v50 = p[0, :, k]
        ap50.append(float(np.mean(v50[v50 > -1])) if (v50 > -1).any() else -1.0)
    return np.array(ap), np.array(ap50)


def coco_evaluate(data: CocoImages, num_classes: int, backend: str = "auto",
                  names: Optional[Sequence[str]] = None) -> CocoResult:
    """Run COCOeval (``bbox``) on in-memory ground truth and detections."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # ~10^6 small dicts: the cyclic GC would rescan them all again and again
    try:
        return _coco_evaluate(data, num_classes, backend, names)
    finally:
        if gc_was_enabled:
            gc.enable()


def _coco_evaluate(data: CocoImages, num_classes: int, backend: str,
                   names: Optional[Sequence[str]]) -> CocoResult:
    COCO, COCOeval, used = coco_backend(backend)
    gt_dict = gt_dataset(data, num_classes, names)
    dt_dict = {"images": gt_dict["images"], "categories": gt_dict["categories"],
               "annotations": dt_annotations(data)}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt, dt = COCO(), COCO()
        gt.dataset, dt.dataset = gt_dict, dt_dict
        gt.createIndex()
        dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = np.asarray(ev.eval["precision"], np.float64)
    if precision.ndim != 5 or not len(data.ids):
        precision = -np.ones((10, 101, num_classes, 4, 3))
    class_ap, class_ap50 = _class_ap(precision)
    return CocoResult(np.asarray(ev.stats[:12], np.float64), precision, class_ap, class_ap50, used)
