"""`Evaluator`: accumulate detections and in-memory targets, then COCO and Darknet metrics.

Used by ``yolov4 val`` and by the training loop (no files involved)::

    ev = Evaluator(names)
    for images, targets in batches:
        ev.process(predictions, targets)
    metrics = ev.summarize()   # {"coco.AP": ..., "darknet.mAP50": ..., "coco.AP/person": ...}

Keys of ``summarize()`` (fractions; COCO's -1 = no ground truth in that range/class):

- ``coco.AP, coco.AP50, coco.AP75, coco.APs, coco.APm, coco.APl, coco.AR1, coco.AR10,
  coco.AR100, coco.ARs, coco.ARm, coco.ARl`` (pycocotools ``stats`` order);
- ``darknet.mAP50`` (``mAP{100 * iou_thresh}``), ``darknet.precision``, ``darknet.recall``,
  ``darknet.F1``, ``darknet.avg_iou`` (at ``conf_thresh``);
- per class ``<name>``: ``coco.AP/<name>``, ``coco.AP50/<name>``, ``darknet.AP50/<name>``,
  ``darknet.precision/<name>``, ``darknet.recall/<name>``.

Counts (TP/FP/FN per class, truths) are on ``ev.darknet_result`` after ``summarize()``; the
COCO precision array and per-class APs on ``ev.coco_result``.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..errors import DataError
from .coco import STAT_KEYS, CocoImages, CocoResult, coco_evaluate
from .darknet_map import DarknetMetrics, as_dict, darknet_map, match_image


def to_numpy(x: Any, dtype: Any, shape_tail: tuple = ()) -> np.ndarray:
    """Tensor (any device) / array / list -> numpy array of ``dtype`` (empty -> ``[0, *tail]``)."""
    if x is None:
        return np.zeros((0,) + shape_tail, dtype)
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype)
    if a.size == 0:
        return np.zeros((0,) + shape_tail, dtype)
    return a.reshape((-1,) + shape_tail) if shape_tail else a.reshape(-1)


class Evaluator:
    """COCO (pycocotools-identical) and Darknet ``detector map`` metrics over many images.

    Args:
        names: class names; labels are 0-based indices into it.
        iou_thresh: IoU threshold of the Darknet family (``-iou_thresh``, default .5).
        conf_thresh: score threshold of Darknet's TP/FP/precision/recall/F1/avg IoU
            (``-thresh``, default .25).
        points: Darknet AP interpolation: 0 all-point (default), 11 (VOC2007), 101.
        coco, darknet: which families to compute.
        backend: ``"auto"`` (faster-coco-eval if installed, else pycocotools),
            ``"faster_coco_eval"`` or ``"pycocotools"``.

    ``process(predictions, targets)`` takes, per image,
    ``predictions[i] = {"boxes": Tensor[N, 4] xyxy px, "scores": Tensor[N], "labels": Tensor[N]}``
    (or a :class:`yolov4.predict.Detections`)
    and ``targets[i] = {"boxes": Tensor[M, 4] xyxy px, "labels": Tensor[M], "image_size": (h, w),
    optional "iscrowd": bool[M], "difficult": bool[M], "area": float[M], "image_id"}`` (any
    hashable id, checked for duplicates and named in errors; COCO ids are assigned internally).
    Crowd and difficult objects are ignore regions: ``iscrowd`` in COCO form (difficult ones
    become crowds too) and "difficult" truths for Darknet (not counted; detections on them
    removed).
    """

    def __init__(self, names: Sequence[str], *, iou_thresh: float = 0.5,
                 conf_thresh: float = 0.25, points: int = 0, coco: bool = True,
                 darknet: bool = True, backend: str = "auto") -> None:
        self.names = list(names)
        self.iou_thresh = float(iou_thresh)
        self.conf_thresh = float(conf_thresh)
        self.points = int(points)
        self.use_coco, self.use_darknet = coco, darknet
        self.backend = backend
        self.coco_result: Optional[CocoResult] = None
        self.darknet_result: Optional[DarknetMetrics] = None
        self.reset()

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def reset(self) -> None:
        """Forget every processed image."""
        self.data = CocoImages()
        self._ignore: List[np.ndarray] = []
        self._match: List[tuple] = []
        self._ids: set = set()

    def __len__(self) -> int:
        return len(self.data.ids)

    def _labels(self, x: Any, what: str, image_id: int) -> np.ndarray:
        labels = to_numpy(x, np.int64)
        bad = (labels < 0) | (labels >= self.num_classes)
        if bad.any():
            raise DataError(f"image {image_id}: {what} class id {int(labels[bad][0])} out of range "
                            f"[0, {self.num_classes}) ({self.num_classes} names)")
        return labels

    def process(self, predictions: Sequence[Mapping[str, Any]],
                targets: Sequence[Mapping[str, Any]]) -> None:
        """Add a batch of images: ``predictions[i]`` and ``targets[i]`` describe image ``i``."""
        if len(predictions) != len(targets):
            raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
        d = self.data
        for pred, tgt in zip(predictions, targets):
            if not isinstance(pred, Mapping):  # a yolov4.predict.Detections
                pred = {"boxes": pred.boxes, "scores": pred.scores, "labels": pred.class_ids}
            key = tgt.get("image_id")
            image_id = len(d.ids) + 1  # the COCO id used internally; external ids may be str
            if key is not None:
                if key in self._ids:
                    raise DataError(f"image id {key} processed twice")
                image_id = key  # only for messages below
            if tgt.get("image_size") is None:
                raise DataError(f"image {image_id}: target has no 'image_size' (h, w)")
            h, w = (int(v) for v in tgt["image_size"])
            gb = to_numpy(tgt.get("boxes"), np.float64, (4,))
            gl = self._labels(tgt.get("labels"), "target", image_id)
            if len(gb) != len(gl):
                raise DataError(f"image {image_id}: {len(gb)} target boxes but {len(gl)} labels")
            crowd = to_numpy(tgt.get("iscrowd"), bool) if tgt.get("iscrowd") is not None \
                else np.zeros(len(gb), bool)
            diff = to_numpy(tgt.get("difficult"), bool) if tgt.get("difficult") is not None \
                else np.zeros(len(gb), bool)
            area = to_numpy(tgt["area"], np.float64) if tgt.get("area") is not None else None
            db = to_numpy(pred.get("boxes"), np.float64, (4,))
            ds = to_numpy(pred.get("scores"), np.float64)
            dl = self._labels(pred.get("labels"), "predicted", image_id)
            if not (len(db) == len(ds) == len(dl)):
                raise DataError(f"image {image_id}: {len(db)} predicted boxes, {len(ds)} scores, "
                                f"{len(dl)} labels")
            if not (np.isfinite(db).all() and np.isfinite(ds).all()):
                raise DataError(f"image {image_id}: predictions hold NaN or inf")
            order = np.argsort(-ds, kind="stable")  # Darknet's per-image pass in score order
            db, ds, dl = db[order], ds[order], dl[order]
            for what, arr in (("iscrowd", crowd), ("difficult", diff), ("area", area)):
                if arr is not None and len(arr) != len(gb):
                    raise DataError(f"image {image_id}: {len(arr)} '{what}' flags for "
                                    f"{len(gb)} target boxes")
            ignore = crowd | diff
            if key is not None:
                self._ids.add(key)
            d.ids.append(len(d.ids) + 1)
            d.sizes.append((h, w))
            d.gt_boxes.append(gb)
            d.gt_labels.append(gl)
            d.gt_crowd.append(ignore)
            d.gt_area.append(area)
            d.dt_boxes.append(db)
            d.dt_scores.append(ds)
            d.dt_labels.append(dl)
            self._ignore.append(ignore)
            if self.use_darknet:
                self._match.append(match_image(db, dl, gb, gl, ignore, self.iou_thresh))

    # ------------------------------------------------------------------ results
    def _darknet(self) -> DarknetMetrics:
        d, nc = self.data, self.num_classes
        offsets = np.cumsum([0] + [len(b) for b in d.gt_boxes])[:-1]
        cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
        truth = cat([np.where(m[0] >= 0, m[0] + o, -1) for m, o in zip(self._match, offsets)],
                    np.int64)
        truths = np.zeros(nc, np.int64)
        for lab, ign in zip(d.gt_labels, self._ignore):
            truths += np.bincount(lab[~ign], minlength=nc)[:nc]
        return darknet_map(nc, cat(d.dt_scores, np.float64), cat(d.dt_labels, np.int64),
                           truth, cat([m[1] for m in self._match], np.float64),
                           cat([m[2] for m in self._match], bool), truths,
                           self.iou_thresh, self.conf_thresh, self.points)

    def summarize(self) -> Dict[str, float]:
        """Every metric as a flat dict of fractions (see module docs for the keys).

        COCO numbers are -1 where pycocotools gives -1 (no ground truth in that area range,
        or per class: no ground truth of that class). Warns and returns zeros when there is
        nothing to evaluate.
        """
        out: Dict[str, float] = {}
        n_det = sum(len(s) for s in self.data.dt_scores)
        if len(self) == 0:
            warnings.warn("Evaluator: no images were processed; every metric is 0", stacklevel=2)
        elif n_det == 0:
            warnings.warn("Evaluator: there are no predictions at all; metrics are 0",
                          stacklevel=2)
        if self.use_coco:
            if len(self):
                self.coco_result = coco_evaluate(self.data, self.num_classes, self.backend,
                                                 self.names)
                out.update(self.coco_result.as_dict())
                for c, name in enumerate(self.names):
                    out[f"coco.AP/{name}"] = float(self.coco_result.class_ap[c])
                    out[f"coco.AP50/{name}"] = float(self.coco_result.class_ap50[c])
            else:
                out.update({f"coco.{k}": 0.0 for k in STAT_KEYS})
        if self.use_darknet:
            self.darknet_result = self._darknet()
            out.update(as_dict(self.darknet_result, self.names))
        return out
