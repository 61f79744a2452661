"""Post-processing: decoded [yolo] outputs -> scored candidate boxes -> NMS -> image-pixel boxes.

Input is the eval-mode output of ``Darknet`` (CONTRACTS.md): a list, one per ``[yolo]``
layer, of ``Tensor[B, A, H_k, W_k, 5 + C]`` holding ``cx, cy, w, h`` as fractions of the network
input, objectness and class probabilities (not multiplied by objectness).

Darknet's rules (``src/yolo_layer.c: get_yolo_detections``, ``src/detector.c``):
- a box is a candidate when ``obj > conf``; each class with ``obj * p_c > conf`` gives one
  (box, class, score) candidate, so one box may carry several classes (``multi_label=True``;
  ``False`` keeps only the best class of each box, as OpenCV's samples do);
- candidates are ordered layer, cell (row-major), anchor before the stable score sort;
- NMS is per class (Darknet) unless ``agnostic``; its kind and ``beta`` default to the **last**
  ``[yolo]`` section's ``nms_kind`` / ``beta_nms`` (see :func:`nms_settings_from_sections`);
- NMS runs on unclipped image-relative boxes (only the DIoU penalty notices the scaling);
  boxes are returned in original-image pixels, clipped to the image after NMS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .darknet.yolo_settings import last_yolo_settings
from .ops.boxes import box_convert, clip_boxes
from .ops.nms import NMS_KINDS, nms_from_cfg, non_max_suppression
from .preprocess import ImageTransform


@dataclass
class NmsSettings:
    """How detections are filtered.

    Attributes:
        conf: score threshold (``obj > conf`` and ``obj * p_c > conf``).
        iou: NMS threshold. kind: one of ``NMS_KINDS``. beta: DIoU exponent.
        sigma: Gaussian Soft-NMS width. agnostic: one NMS over all classes.
        max_det: detections kept per image. multi_label: several classes per box (Darknet).
        max_candidates: at most this many highest-scored candidates enter NMS.
    """

    conf: float = 0.25
    iou: float = 0.45
    kind: str = "greedy"
    beta: float = 0.6
    sigma: float = 0.5
    agnostic: bool = False
    max_det: Optional[int] = 300
    multi_label: bool = True
    max_candidates: int = 30000

    def __post_init__(self) -> None:
        if self.kind not in NMS_KINDS:
            raise ValueError(f"unknown NMS kind '{self.kind}', expected one of {NMS_KINDS}")


def nms_settings_from_sections(sections: Sequence[object]) -> Tuple[str, float]:
    """``(kind, beta)`` from the last ``[yolo]`` section's ``nms_kind`` and ``beta_nms``."""
    last = last_yolo_settings(sections)
    if last is None:
        return "greedy", 0.6
    return nms_from_cfg(last.nms_kind, last.beta_nms)


def flatten_outputs(outputs: Sequence[Tensor]) -> Tensor:
    """List of ``Tensor[B, A, H, W, 5+C]`` -> ``Tensor[B, N, 5+C]`` in Darknet's order
    (layer, row-major cell, anchor)."""
    flat = [o.permute(0, 2, 3, 1, 4).reshape(o.shape[0], -1, o.shape[-1]) for o in outputs]
    return torch.cat(flat, 1)


def unflatten_outputs(pred: Tensor, grids: Sequence[Tuple[int, int, int]]) -> List[Tensor]:
    """Inverse of :func:`flatten_outputs`: ``Tensor[B, N, 5+C]`` rows in Darknet's order (the
    ONNX/OpenVINO output) -> one ``Tensor[B, A, H, W, 5+C]`` view per ``(A, H, W)`` of ``grids``.

    Raises:
        ValueError: when the grids do not account for exactly ``N`` rows.
    """
    b, n = pred.shape[0], pred.shape[1]
    if sum(a * h * w for a, h, w in grids) != n:
        raise ValueError(f"grids {list(grids)} hold {sum(a * h * w for a, h, w in grids)} rows, "
                         f"the predictions {n}")
    outs, start = [], 0
    for a, h, w in grids:
        rows = pred[:, start:start + a * h * w]
        outs.append(rows.reshape(b, h, w, a, -1).permute(0, 3, 1, 2, 4))
        start += a * h * w
    return outs


def candidates(pred: Tensor, input_hw: Tuple[int, int], conf: float,
               multi_label: bool = True, max_candidates: Optional[int] = None
               ) -> Tuple[Tensor, Tensor, Tensor]:
    """Scored candidates of one image.

    Args:
        pred: ``Tensor[N, 5+C]`` decoded rows (cx, cy, w, h fractions, obj, class probs).
        input_hw: network input ``(h, w)`` in pixels.
        max_candidates: keep only this many highest-scored candidates (order preserved).
    Returns:
        ``boxes: Tensor[M, 4]`` xyxy input pixels, ``scores: Tensor[M]`` = obj * p_c,
        ``class_ids: Tensor[M]`` int64, in Darknet's candidate order.
    """
    pred = pred.float()
    obj = pred[:, 4]
    rows = torch.nonzero(obj > conf).flatten()
    p = pred[rows]
    probs = p[:, 4:5] * p[:, 5:]
    if multi_label:
        r, c = torch.nonzero(probs > conf, as_tuple=True)
        scores = probs[r, c]
    else:
        scores, c = probs.max(1)
        r = torch.nonzero(scores > conf).flatten()
        scores, c = scores[r], c[r]
    if max_candidates is not None and scores.numel() > max_candidates:
        top = torch.topk(scores, max_candidates, sorted=False).indices.sort().values
        r, c, scores = r[top], c[top], scores[top]
    h, w = input_hw
    scale = torch.tensor([w, h, w, h], dtype=pred.dtype, device=pred.device)
    boxes = box_convert(p[r, :4] * scale, "cxcywh", "xyxy")
    return boxes, scores, c.to(torch.int64)


def select(boxes: Tensor, scores: Tensor, class_ids: Tensor, settings: NmsSettings,
           image_hw: Optional[Tuple[int, int]] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """NMS of one image's candidates (xyxy image pixels) -> the kept ``(boxes, scores, ids)``.

    ``image_hw`` normalises boxes before NMS (Darknet's image-relative NMS)."""
    if scores.numel() > settings.max_candidates:
        top = torch.topk(scores, settings.max_candidates, sorted=False).indices.sort().values
        boxes, scores, class_ids = boxes[top], scores[top], class_ids[top]
    nb = boxes
    if image_hw is not None:
        h, w = image_hw
        nb = boxes / torch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)
    keep, kept_scores = non_max_suppression(
        nb, scores, class_ids, kind=settings.kind, iou_threshold=settings.iou,
        beta=settings.beta, sigma=settings.sigma, score_threshold=settings.conf,
        agnostic=settings.agnostic, max_det=settings.max_det)
    return boxes[keep], kept_scores.to(scores.dtype), class_ids[keep]


def postprocess(outputs: Sequence[Tensor], transforms: Sequence[ImageTransform],
                settings: Union[NmsSettings, Sequence[NmsSettings]], clip: bool = True
                ) -> List[Tuple[Tensor, Tensor, Tensor]]:
    """Decoded outputs of a batch -> per image ``(boxes, scores, class_ids)``.

    Args:
        outputs: eval-mode ``Darknet`` outputs, ``Tensor[B, A, H, W, 5+C]`` per ``[yolo]``.
        transforms: one :class:`ImageTransform` per image (all share the input size).
        settings: one for the batch, or one per image (a server batching requests that each
            ask for their own thresholds).
        clip: clip boxes to the image.
    Returns:
        per image ``boxes: Tensor[K, 4]`` xyxy original-image pixels, ``scores: Tensor[K]``,
        ``class_ids: Tensor[K]`` int64, by decreasing score.
    """
    pred = flatten_outputs(outputs)
    per_image = [settings] * len(transforms) if isinstance(settings, NmsSettings) else settings
    if len(per_image) != len(transforms):
        raise ValueError(f"postprocess: {len(per_image)} settings for {len(transforms)} images")
    results = []
    for b, (t, settings) in enumerate(zip(transforms, per_image)):
        boxes, scores, ids = candidates(pred[b], t.input_size, settings.conf,
                                        settings.multi_label, settings.max_candidates)
        boxes, scores, ids = select(t.to_image(boxes), scores, ids, settings, t.image_size)
        if clip:  # after NMS, as Darknet (NMS sees the unclipped boxes)
            boxes = clip_boxes(boxes, t.image_size[1], t.image_size[0])
        results.append((boxes, scores, ids))
    return results
