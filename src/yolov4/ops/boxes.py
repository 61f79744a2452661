"""Box formats and the IoU family (IoU, GIoU, DIoU, CIoU), shared by NMS, the loss and metrics.

Formats: ``xyxy`` = (x1, y1, x2, y2); ``xywh`` = (x1, y1, w, h) (COCO); ``cxcywh`` =
(centre x, centre y, w, h) (Darknet/YOLO). Any unit (pixels or fractions of the image) as long
as both arguments share it.

Every similarity exists in two forms: elementwise (``bbox_similarity(a, b)``, arguments
broadcast, used by the loss) and pairwise (``box_iou(a, b) -> Tensor[N, M]``, used by NMS and
matching). fp16/bf16 inputs are computed in fp32.

Formulas as Darknet's ``src/box.c`` (ρ² = squared centre distance, C = enclosing box area,
c² = its squared diagonal):
- IoU = I / U (0 where U is 0)
- GIoU = IoU − (C − U) / C
- DIoU = IoU − (ρ² / c²) ** exponent (``box_diou`` uses exponent 0.6, the DIoU paper 1)
- CIoU = IoU − ρ² / c² − α v, v = 4/π² (atan(w_g/h_g) − atan(w_p/h_p))²,
  α = v / (1 − IoU + v), α held constant for the gradient (as the CIoU paper and Darknet).
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor

KINDS = ("iou", "giou", "diou", "ciou")


def _upcast(t: Tensor) -> Tensor:
    return t.float() if t.is_floating_point() and t.dtype in (torch.float16, torch.bfloat16) else t


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert ``Tensor[..., 4]`` between ``xyxy``, ``xywh`` and ``cxcywh``."""
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        x1, y1, x2, y2 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    elif in_fmt == "xyxy":
        x1, y1, x2, y2 = a, b, c, d
    else:
        raise ValueError(f"unknown box format '{in_fmt}'")
    if out_fmt == "xyxy":
        out = (x1, y1, x2, y2)
    elif out_fmt == "xywh":
        out = (x1, y1, x2 - x1, y2 - y1)
    elif out_fmt == "cxcywh":
        out = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    else:
        raise ValueError(f"unknown box format '{out_fmt}'")
    return torch.stack(out, -1)


def box_area(boxes: Tensor) -> Tensor:
    """Area of ``Tensor[..., 4]`` xyxy boxes -> ``Tensor[...]``."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _inter_union(a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    union = box_area(a) + box_area(b) - inter
    return inter, union


def bbox_similarity(a: Tensor, b: Tensor, kind: str = "iou", eps: float = 1e-9,
                    diou_exponent: float = 1.0) -> Tensor:
    """Elementwise IoU-family similarity of xyxy boxes.

    Args:
        a, b: ``Tensor[..., 4]`` xyxy boxes; the leading dimensions broadcast.
        kind: ``"iou"``, ``"giou"``, ``"diou"`` or ``"ciou"``.
        eps: added to denominators so degenerate boxes give finite values and gradients.
        diou_exponent: exponent of the DIoU penalty (Darknet's ``box_diou``: 0.6).

    Returns:
        ``Tensor[...]`` similarity in [-1, 1] (IoU in [0, 1]).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown IoU kind '{kind}', expected one of {KINDS}")
    a, b = _upcast(a), _upcast(b)
    inter, union = _inter_union(a, b)
    iou = inter / (union + eps)
    if kind == "iou":
        return iou
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    if kind == "giou":
        c_area = cw * ch
        return iou - (c_area - union) / (c_area + eps)
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) ** 2
            + (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) ** 2) / 4
    if kind == "diou":
        ratio = rho2 / c2
        return iou - (ratio if diou_exponent == 1.0 else ratio.clamp(min=0) ** diou_exponent)
    wa, ha = a[..., 2] - a[..., 0], a[..., 3] - a[..., 1]
    wb, hb = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    v = (4 / math.pi ** 2) * (torch.atan(wb / (hb + eps)) - torch.atan(wa / (ha + eps))) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return iou - rho2 / c2 - alpha * v


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU of ``Tensor[N, 4]`` and ``Tensor[M, 4]`` xyxy boxes -> ``Tensor[N, M]``."""
    return bbox_similarity(boxes1[:, None], boxes2[None], "iou", eps=0.0).nan_to_num(0.0)


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise GIoU of xyxy boxes -> ``Tensor[N, M]``."""
    return bbox_similarity(boxes1[:, None], boxes2[None], "giou")


def distance_box_iou(boxes1: Tensor, boxes2: Tensor, exponent: float = 1.0) -> Tensor:
    """Pairwise DIoU of xyxy boxes -> ``Tensor[N, M]``; ``exponent`` applies to ρ²/c²."""
    return bbox_similarity(boxes1[:, None], boxes2[None], "diou", diou_exponent=exponent)


def complete_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise CIoU of xyxy boxes -> ``Tensor[N, M]``."""
    return bbox_similarity(boxes1[:, None], boxes2[None], "ciou")


def wh_iou(wh1: Tensor, wh2: Tensor) -> Tensor:
    """Pairwise IoU of corner-aligned boxes given by sizes: ``Tensor[N, 2]``, ``Tensor[M, 2]``
    -> ``Tensor[N, M]`` (anchor matching and k-means anchors)."""
    wh1, wh2 = _upcast(wh1), _upcast(wh2)
    inter = torch.minimum(wh1[:, None], wh2[None]).prod(-1)
    union = wh1.prod(-1)[:, None] + wh2.prod(-1)[None] - inter
    return inter / union.clamp(min=1e-12)


def clip_boxes(boxes: Tensor, width: float, height: float) -> Tensor:
    """Clip ``Tensor[..., 4]`` xyxy boxes to ``[0, width] x [0, height]`` (returns a new tensor)."""
    out = boxes.clone()
    out[..., 0::2] = out[..., 0::2].clamp(0, width)
    out[..., 1::2] = out[..., 1::2].clamp(0, height)
    return out
