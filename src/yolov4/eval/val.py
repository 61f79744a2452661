"""``yolov4.val``: run a model (or read saved COCO results) over a dataset split and evaluate.

Defaults and how they relate to Darknet:

- ``conf=0.001``, ``iou=0.6`` (NMS): ``darknet detector valid`` (the COCO-JSON path). Darknet's
  ``detector map`` instead keeps detections above .005 with NMS .45; pass ``conf=0.005,
  iou=0.45`` to reproduce its mAP input exactly.
- Darknet-family metrics: IoU threshold ``map_iou=0.5`` (``-iou_thresh``), P/R/F1/avg IoU at
  ``map_conf=0.25`` (``-thresh``), all-point AP (``-points 0``).
- NMS kind, letterbox and input size default to the model's cfg, as ``Detector``.
"""
from __future__ import annotations

import json as _json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union


from ..errors import DataError
from .driver import evaluate_detector
from .evaluator import Evaluator
from .report import format_table
from .results import load_results, results_entries, write_results

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class ValResult:
    """Everything a validation run produced."""

    metrics: Dict[str, float]
    evaluator: Evaluator
    speed: Dict[str, float] = field(default_factory=dict)  # ms per image
    table: str = ""
    files: List[Path] = field(default_factory=list)


def _open_split(data: Any, split: str):
    if not isinstance(data, (str, os.PathLike)):
        return data  # an already loaded dataset
    from ..data.formats import load_dataset

    ds = load_dataset(data, split)
    if len(ds) == 0:
        raise DataError(f"{data}: the '{split}' split has no images")
    return ds


def _targets(ds: Any, i: int, image_size=None) -> dict:
    t = dict(ds.targets(i))
    if image_size is not None:
        t["image_size"] = tuple(image_size)
    if t.get("image_size") is None:
        raise DataError(f"{ds.paths[i]}: image is missing or does not decode")
    return t


def val_run(data: Any, model: Any = None, weights: Optional[PathLike] = None, *,
            size: Optional[int] = None, conf: float = 0.001, iou: float = 0.6,
            nms: Optional[str] = None, split: str = "val", json: Optional[PathLike] = None,
            save_preds: Optional[PathLike] = None, plots: Optional[PathLike] = None,
            preds: Optional[PathLike] = None, batch_size: int = 8, device: str = "cpu",
            letterbox: Optional[bool] = None, map_iou: float = 0.5, map_conf: float = 0.25,
            points: int = 0, backend: str = "auto", verbose: bool = True,
            progress: Optional[bool] = None, all_classes: bool = False,
            max_det: Optional[int] = 300, engine: str = "torch", bf16: bool = False,
            calibration: Any = None) -> ValResult:
    """Like :func:`val` but returns a :class:`ValResult` (metrics, evaluator, speed, table)."""
    ds = _open_split(data, split)
    names = list(ds.names)
    evaluator = Evaluator(names, iou_thresh=map_iou, conf_thresh=map_conf, points=points,
                          backend=backend)
    speed: Dict[str, float] = {}
    files: List[Path] = []
    entries: Optional[list] = [] if save_preds is not None else None
    if preds is not None:
        if model is not None:
            raise DataError("give either a model or saved predictions (--preds), not both")
        per_image = load_results(preds, ds)
        for i, p in enumerate(per_image):
            evaluator.process([p], [_targets(ds, i)])
        if entries is not None:
            for i, p in enumerate(per_image):
                entries += results_entries(p["boxes"], p["scores"], p["labels"], ds.paths[i],
                                           ds.image_ids[i] if ds.format == "coco" else None,
                                           getattr(ds, "category_ids", None))
    else:
        if model is None:
            raise DataError("nothing to evaluate: give a model (and weights) or --preds")
        from ..predict import Detector

        detector = Detector(model, weights, names=names, size=size, conf=conf, iou=iou,
                            nms=nms, letterbox=letterbox, device=device, max_det=max_det,
                            engine=engine, bf16=bf16, calibration=calibration)
        speed = evaluate_detector(detector, ds, evaluator, batch_size=batch_size,
                                  progress=verbose if progress is None else progress,
                                  entries=entries).speed
    metrics = evaluator.summarize()
    table = format_table(evaluator, metrics, speed, all_classes)
    if verbose:
        print(table)
    if json is not None:
        p = Path(json)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_json.dumps(metrics, indent=1), encoding="utf-8")
        files.append(p)
    if entries is not None:
        write_results(save_preds, entries)
        files.append(Path(save_preds))
    if plots is not None:
        from .plots import save_plots

        files += save_plots(evaluator, plots)
    if verbose and files:
        print("wrote " + ", ".join(str(f) for f in files))
    return ValResult(metrics, evaluator, speed, table, files)


def val(data: Any, model: Any = None, weights: Optional[PathLike] = None, *,
        size: Optional[int] = None, conf: float = 0.001, iou: float = 0.6,
        nms: Optional[str] = None, split: str = "val", json: Optional[PathLike] = None,
        save_preds: Optional[PathLike] = None, plots: Optional[PathLike] = None,
        preds: Optional[PathLike] = None, **kwargs: Any) -> Dict[str, float]:
    """Evaluate a model (or saved COCO results) on a dataset split; mirrors ``yolov4 val``.

    Args:
        data: dataset path (YOLO ``data.yaml``, Darknet ``.data``, COCO json/dir, VOC dir) or a
            loaded dataset.
        model: model-zoo name, ``.cfg`` path or ``Darknet`` module (not with ``preds``).
        weights: ``.weights`` / ``.pt`` for ``model``. size: input size (default the cfg's).
        conf: score threshold of the detections kept (0.001 as ``detector valid``).
        iou: NMS IoU threshold (0.6 as ``detector valid``; ``detector map`` uses .45).
        nms: NMS kind (default from the cfg). split: ``"val"``, ``"train"`` or ``"test"``.
        json: write the metrics (flat dict of fractions) here.
        save_preds: write the detections as COCO results JSON here.
        plots: directory for ``PR_curve.png``, ``F1_curve.png``, ``confusion_matrix.png``.
        preds: evaluate this COCO results JSON instead of running a model.
        **kwargs: ``batch_size``, ``device``, ``letterbox``, ``map_iou`` (.5), ``map_conf``
            (.25), ``points`` (0/11/101), ``backend`` (COCO library), ``verbose``, ``progress``,
            ``all_classes``, ``max_det`` (300 per image; None = all, as Darknet's map),
            ``engine`` / ``bf16`` / ``calibration`` (inference engine, as
            :class:`yolov4.Detector`) (see :func:`val_run`).

    Returns:
        the metrics dict of :meth:`Evaluator.summarize` (``coco.AP`` ... ``darknet.mAP50`` ...).
    """
    return val_run(data, model, weights, size=size, conf=conf, iou=iou, nms=nms, split=split,
                   json=json, save_preds=save_preds, plots=plots, preds=preds, **kwargs).metrics
