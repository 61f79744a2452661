"""The built-in ablation plan ``paper``: Table 4 (bag of freebies, CSPResNeXt50-PANet-SPP at
512) and Table 5's SAM row of the YOLOv4 paper, with our switch names, and the paper's numbers.

Each row is a set of ingredients on top of the paper's baseline (MSE box loss, no grid
sensitivity fix, no mosaic, one anchor per truth, no label smoothing, no CmBN, step lr):

=====  ==============================================  =====  ==================================
name   our switch                                      name   our switch
=====  ==============================================  =====  ==================================
S      ``scale_x_y=1.1``                               CA     ``policy=sgdr`` (cosine annealing)
M      ``mosaic=1``                                    OA     anchors fitted to the data (k-means,
IT     ``iou_thresh=0.213``                                   as ``yolov4 anchors``)
GA     the evolved hyp file (``yolov4 evolve``)        GIoU,  ``iou_loss=giou|diou|ciou`` with
LS     ``label_smooth_eps=0.1``                        DIoU,  ``iou_normalizer=0.07``
CBN    ``cmbn=1`` (``batch_normalize=2``)              CIoU
SAM    the builder's ``sam=True``
=====  ==============================================  =====  ==================================

DM (dynamic mini-batch size) has no switch here: its row is not run. Without an evolved hyp
file the GA row is left out and GA is dropped from the combined rows (which then have no paper
number to compare with).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

#: Overrides that make the paper's baseline out of the default recipe.
BASE: Dict[str, Any] = {"iou_loss": "mse", "iou_normalizer": 0.75, "scale_x_y": 1.0,
                        "mosaic": 0, "iou_thresh": 1.0, "label_smooth_eps": 0.0, "cmbn": 0,
                        "policy": "steps"}
_IOU = {"iou_normalizer": 0.07}
INGREDIENTS: Dict[str, Dict[str, Any]] = {
    "S": {"scale_x_y": 1.1}, "M": {"mosaic": 1}, "IT": {"iou_thresh": 0.213},
    "GA": {}, "LS": {"label_smooth_eps": 0.1}, "CBN": {"cmbn": 1}, "CA": {"policy": "sgdr"},
    "OA": {"anchors": "fit"}, "GIoU": {"iou_loss": "giou", **_IOU},
    "DIoU": {"iou_loss": "diou", **_IOU}, "CIoU": {"iou_loss": "ciou", **_IOU},
    "SAM": {"sam": True},
}
#: (ingredients, paper AP, paper AP50 or None): Table 4, then Table 5's "+ SAM".
ROWS: List[Tuple[Tuple[str, ...], float, Optional[float]]] = [
    ((), 38.0, 60.0), (("S",), 37.7, None), (("M",), 39.1, None), (("IT",), 36.9, None),
    (("GA",), 38.9, None), (("LS",), 33.0, None), (("CBN",), 38.4, None),
    (("CA",), 38.7, None), (("S", "GIoU"), 39.4, None), (("S", "DIoU"), 39.1, None),
    (("S", "CIoU"), 39.6, None), (("S", "M", "IT", "GA", "CIoU"), 41.5, None),
    (("S", "M", "IT", "GA", "OA", "CIoU"), 42.4, None),
    (("S", "M", "IT", "GA", "OA", "CIoU", "SAM"), 42.7, None),
]
#: Paper rows without a switch here (shown in the docs, never run).
NOT_RUN = {"DM": 35.3}


def row_name(ingredients: Tuple[str, ...]) -> str:
    return " ".join(ingredients) if ingredients else "baseline"


def paper_plan(ga_hyp: Optional[str] = None
               ) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, Tuple[float, Optional[float]]]]:
    """``(plan, facts)``: row name -> overrides (plan format, ``hyp`` for GA), and row name ->
    the paper's (AP, AP50) for the rows that match the paper's exactly."""
    plan: Dict[str, Dict[str, Any]] = {}
    facts: Dict[str, Tuple[float, Optional[float]]] = {}
    for ingredients, ap, ap50 in ROWS:
        used = tuple(i for i in ingredients if ga_hyp is not None or i != "GA")
        if not used and ingredients:
            continue                         # the lone GA row needs the evolved file
        name = row_name(used)
        if name in plan:
            continue
        row = dict(BASE)
        for i in used:
            row.update(INGREDIENTS[i])
        if "GA" in used:
            row["hyp"] = str(ga_hyp)
        plan[name] = row
        if used == ingredients:
            facts[name] = (ap, ap50)
    return plan, facts


__all__ = ["paper_plan", "BASE", "INGREDIENTS", "ROWS", "NOT_RUN"]
