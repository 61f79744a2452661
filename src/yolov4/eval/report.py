"""The text table ``yolov4 val`` prints: both metric families, per-class rows and speed."""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import numpy as np

from .coco import STAT_KEYS

COCO_LABELS = {
    "AP": "AP @[IoU=0.50:0.95 | area=   all | maxDets=100]",
    "AP50": "AP @[IoU=0.50      | area=   all | maxDets=100]",
    "AP75": "AP @[IoU=0.75      | area=   all | maxDets=100]",
    "APs": "AP @[IoU=0.50:0.95 | area= small | maxDets=100]",
    "APm": "AP @[IoU=0.50:0.95 | area=medium | maxDets=100]",
    "APl": "AP @[IoU=0.50:0.95 | area= large | maxDets=100]",
    "AR1": "AR @[IoU=0.50:0.95 | area=   all | maxDets=  1]",
    "AR10": "AR @[IoU=0.50:0.95 | area=   all | maxDets= 10]",
    "AR100": "AR @[IoU=0.50:0.95 | area=   all | maxDets=100]",
    "ARs": "AR @[IoU=0.50:0.95 | area= small | maxDets=100]",
    "ARm": "AR @[IoU=0.50:0.95 | area=medium | maxDets=100]",
    "ARl": "AR @[IoU=0.50:0.95 | area= large | maxDets=100]",
}


def _pct(v: float) -> str:
    return "    -" if v < 0 else f"{100 * v:5.1f}"


def format_table(evaluator, metrics: Mapping[str, float],
                 speed: Optional[Dict[str, float]] = None, all_classes: bool = False) -> str:
    """The report of a summarised :class:`~yolov4.eval.Evaluator` as text (percentages).

    Per-class rows list classes with labels or with detections above the Darknet ``conf_thresh``
    (every class if ``all_classes``).
    """
    names = evaluator.names
    d = evaluator.data
    dk = evaluator.darknet_result
    nc = len(names)
    images = np.zeros(nc, np.int64)
    for lab in d.gt_labels:
        images[np.unique(lab)] += 1
    labels = np.zeros(nc, np.int64)
    for lab, ign in zip(d.gt_labels, d.gt_crowd):
        labels += np.bincount(lab[~ign], minlength=nc)[:nc]
    w = max([5] + [len(n) for n in names])
    tag = f"{round(evaluator.iou_thresh * 100)}"
    lines: List[str] = []
    head = (f"{'class':<{w}} {'images':>7} {'labels':>7} | {'AP':>5} {'AP50':>5} | "
            f"{'AP' + tag:>5} {'TP':>6} {'FP':>6} {'P':>5} {'R':>5}")
    lines += [head, "-" * len(head)]
    all_row = (f"{'all':<{w}} {len(d.ids):>7} {int(labels.sum()):>7} | "
               f"{_pct(metrics.get('coco.AP', -1))} {_pct(metrics.get('coco.AP50', -1))} | ")
    if dk is not None:
        all_row += (f"{_pct(dk.map)} {int(dk.tp.sum()):>6} {int(dk.fp.sum()):>6} "
                    f"{_pct(dk.precision)} {_pct(dk.recall)}")
    lines.append(all_row)
    for c, name in enumerate(names):
        has_dets = dk is not None and dk.tp[c] + dk.fp[c] > 0  # detections above map_conf
        if not (all_classes or labels[c] or has_dets):
            continue
        row = (f"{name:<{w}} {int(images[c]):>7} {int(labels[c]):>7} | "
               f"{_pct(metrics.get(f'coco.AP/{name}', -1))} "
               f"{_pct(metrics.get(f'coco.AP50/{name}', -1))} | ")
        if dk is not None:
            row += (f"{_pct(dk.ap[c])} {int(dk.tp[c]):>6} {int(dk.fp[c]):>6} "
                    f"{_pct(dk.class_precision(c))} {_pct(dk.class_recall(c))}")
        lines.append(row)
    if "coco.AP" in metrics:
        backend = evaluator.coco_result.backend if evaluator.coco_result else "-"
        lines += ["", f"COCO ({backend}):"]
        lines += [f" Average {'Precision' if k.startswith('AP') else 'Recall   '} "
                  f"({COCO_LABELS[k][3:]}) = {metrics[f'coco.{k}']:.3f}" for k in STAT_KEYS]
    if dk is not None:
        fn = int(dk.truths.sum() - dk.tp.sum())
        interp = ("area under the curve for each unique recall" if dk.points == 0
                  else f"{dk.points} recall points")
        lines += ["", "Darknet (detector map):",
                  f" for conf_thresh = {dk.conf_thresh:.2f}, precision = {dk.precision:.2f}, "
                  f"recall = {dk.recall:.2f}, F1-score = {dk.f1:.2f}",
                  f" for conf_thresh = {dk.conf_thresh:.2f}, TP = {int(dk.tp.sum())}, "
                  f"FP = {int(dk.fp.sum())}, FN = {fn}, average IoU = {100 * dk.avg_iou:.2f} %",
                  f" IoU threshold = {100 * dk.iou_thresh:.0f} %, used {interp}",
                  f" mean average precision (mAP@{dk.iou_thresh:.2f}) = {dk.map:.6f}, "
                  f"or {100 * dk.map:.2f} %"]
        with_truths = dk.truths > 0
        if 0 < with_truths.sum() < nc:
            lines.append(f" (the mean is over all {nc} classes, {nc - int(with_truths.sum())} "
                         f"without labels count as 0; over the {int(with_truths.sum())} with "
                         f"labels it is {100 * dk.ap[with_truths].mean():.2f} %)")
    if speed:
        lines += ["", "Speed: " + ", ".join(f"{v:.1f} ms {k}" for k, v in speed.items())
                  + " per image"]
    return "\n".join(lines)
