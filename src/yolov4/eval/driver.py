"""The one evaluation driver: a :class:`yolov4.Detector` over a dataset, scored by an Evaluator.

Training validation (``engine/validate.py``), ``yolov4 val`` (``eval/val.py``), the demo and the
benchmarks all run this loop, so one model gives one number everywhere: the same
pre-processing (:meth:`Detector.preprocess`), the same engine (:meth:`Detector.forward` runs
the detector's runner: torch, optimised torch or OpenVINO at any precision), the same
post-processing and NMS settings (:meth:`Detector.postprocess`), and targets in original-image
pixels.

Datasets: a ``DetectionDataset`` (``load_image(i)`` and ``targets(i)``: crowd/difficult
boxes become ignore regions) or any sequence of :class:`yolov4.data.sample.Sample` with
``names`` (the image and boxes of ``dataset[i]`` in original pixels).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from .evaluator import Evaluator
from .results import results_entries


@dataclass
class EvalRun:
    """What :func:`evaluate_detector` produced.

    Attributes:
        evaluator: fed with every image (call ``summarize()`` for the metrics).
        speed: milliseconds per image for ``pre-process``, ``inference`` and ``NMS``.
        images: number of images evaluated.
    """

    evaluator: Evaluator
    speed: Dict[str, float] = field(default_factory=dict)
    images: int = 0


def _image(dataset: Any, i: int) -> np.ndarray:
    """``uint8[H, W, 3]`` RGB image of sample ``i``."""
    if hasattr(dataset, "load_image"):
        return dataset.load_image(i)
    return dataset[i].image


def _targets(dataset: Any, i: int, image_size: tuple) -> Dict[str, Any]:
    """Evaluator target of sample ``i``: ``boxes`` ``Tensor[N, 4]`` xyxy original pixels,
    ``labels`` ``Tensor[N]`` int64, ``image_size`` ``(h, w)`` (and crowd/difficult flags)."""
    if hasattr(dataset, "targets"):
        t = dict(dataset.targets(i))
        t.pop("path", None)
    else:
        s = dataset[i]
        t = {"boxes": torch.as_tensor(np.asarray(s.boxes, np.float32).reshape(-1, 4)),
             "labels": torch.as_tensor(np.asarray(s.labels)).long()}
    t["image_size"] = tuple(image_size)
    t.setdefault("image_id", i)
    return t


def _progress(iterable: Any, total: int, enabled: bool) -> Any:
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, total=total, desc="val", unit="batch", leave=False)


def evaluate_detector(detector: Any, dataset: Any, evaluator: Optional[Evaluator] = None, *,
                      batch_size: int = 8, max_images: int = 0, progress: bool = False,
                      entries: Optional[List[dict]] = None) -> EvalRun:
    """Run ``detector`` over ``dataset`` and feed ``evaluator`` (new, default settings if None).

    Args:
        detector: a :class:`yolov4.Detector` (its size, letterbox, resize kind, engine and NMS
            settings are used as they are).
        dataset: see the module docstring; ``dataset.names`` must match the detector's classes.
        max_images: evaluate the first N images only (0 = all).
        entries: when a list, COCO result records of every detection are appended to it.

    Raises:
        DataError: naming an image that does not decode (from the dataset's reader).
    """
    if evaluator is None:
        evaluator = Evaluator(list(dataset.names))
    n = len(dataset) if not max_images else min(int(max_images), len(dataset))
    paths = list(getattr(dataset, "paths", [str(i) for i in range(n)]))
    image_ids = getattr(dataset, "image_ids", None) if getattr(dataset, "format", "") == "coco" \
        else None
    cat_ids = getattr(dataset, "category_ids", None)
    sync = detector.device.type == "cuda"
    t_pre = t_inf = t_nms = 0.0
    starts = range(0, n, max(1, batch_size))
    for start in _progress(starts, len(starts), progress):
        idx = list(range(start, min(start + batch_size, n)))
        t0 = time.perf_counter()
        batch, transforms = detector.preprocess([_image(dataset, i) for i in idx])
        t1 = time.perf_counter()
        outputs = detector.forward(batch)
        if sync:
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        results = detector.postprocess(outputs, transforms)
        t3 = time.perf_counter()
        t_pre, t_inf, t_nms = t_pre + t1 - t0, t_inf + t2 - t1, t_nms + t3 - t2
        preds, tgts = [], []
        for i, (boxes, scores, labels), tr in zip(idx, results, transforms):
            preds.append({"boxes": boxes.cpu(), "scores": scores.cpu(), "labels": labels.cpu()})
            tgts.append(_targets(dataset, i, tr.image_size))
            if entries is not None:
                entries += results_entries(boxes.cpu().numpy(), scores.cpu().numpy(),
                                           labels.cpu().numpy(), paths[i],
                                           image_ids[i] if image_ids is not None else None,
                                           cat_ids)
        evaluator.process(preds, tgts)
    k = 1000.0 / max(n, 1)
    return EvalRun(evaluator, {"pre-process": t_pre * k, "inference": t_inf * k,
                               "NMS": t_nms * k}, n)
