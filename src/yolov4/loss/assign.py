"""Target assignment of Darknet's ``[yolo]`` loss: layer settings, ground truths, (truth, anchor) pairs.

Darknet's rules (``src/yolo_layer.c: process_batch``; DARKNET_SEMANTICS §3.1–3.2):
- each truth goes to cell ``(int)(x·lw), (int)(y·lh)`` (clamped to the grid here; Darknet would
  write out of bounds for x == 1);
- its best anchor is searched over **all** ``num`` anchors of the section by the IoU of
  centre-aligned shapes (first maximum wins); the pair exists in this layer if that anchor is in
  ``mask``;
- with ``iou_thresh < 1``, every *other* anchor of ``mask`` whose ``iou_thresh_kind`` similarity with
  the truth's shape exceeds ``iou_thresh`` gets a pair too (several anchors, possibly several
  layers, per truth);
- pairs are processed in truth order, then best anchor first, then anchor index; ``first``/``last``
  mark the first and last pair of each (image, anchor, cell) slot, which decide Darknet's
  collision behaviour (box deltas add, objectness is rewritten, classes become multi-label).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from yolov4.darknet.yolo_settings import IOU_LOSSES, THRESH_KINDS, YoloSettings
from yolov4.errors import CfgError, DataError
from yolov4.ops.boxes import bbox_similarity, wh_iou

#: LayerSpec fields copied as they are from YoloSettings.
_FROM_SETTINGS = ("scale_x_y", "new_coords", "ignore_thresh", "truth_thresh", "iou_thresh",
                  "iou_thresh_kind", "iou_loss", "iou_normalizer", "obj_normalizer",
                  "cls_normalizer", "delta_normalizer", "label_smooth_eps", "objectness_smooth",
                  "focal_loss", "max_delta", "max_boxes")


_D = YoloSettings()  # Darknet's [yolo] defaults


@dataclass
class LayerSpec:
    """Loss settings of one ``[yolo]`` layer, with Darknet's defaults (:class:`YoloSettings`).

    ``anchors`` is ``Tensor[num, 2]`` (all anchors of the section, input pixels); ``mask`` the
    anchor indices this layer predicts. ``class_multipliers`` comes from ``counters_per_class``
    (``max_count / count[c]`` capped at ``max_delta``; None when the key is absent).
    """

    anchors: Tensor
    mask: List[int]
    classes: int
    scale_x_y: float = _D.scale_x_y
    new_coords: bool = _D.new_coords
    ignore_thresh: float = _D.ignore_thresh
    truth_thresh: float = _D.truth_thresh
    iou_thresh: float = _D.iou_thresh
    iou_thresh_kind: str = _D.iou_thresh_kind
    iou_loss: str = _D.iou_loss
    iou_normalizer: float = _D.iou_normalizer
    obj_normalizer: float = _D.obj_normalizer
    cls_normalizer: float = _D.cls_normalizer
    delta_normalizer: float = _D.delta_normalizer
    label_smooth_eps: float = _D.label_smooth_eps
    objectness_smooth: bool = _D.objectness_smooth
    focal_loss: bool = _D.focal_loss
    max_delta: float = _D.max_delta
    class_multipliers: Optional[List[float]] = None
    max_boxes: int = _D.max_boxes
    cls_normalizer_mode: str = "darknet"
    name: str = field(default="[yolo]", compare=False)

    def __post_init__(self) -> None:
        self.anchors = torch.as_tensor(self.anchors, dtype=torch.float32).reshape(-1, 2)
        num = self.anchors.shape[0]
        if any(m < 0 or m >= num for m in self.mask):
            raise CfgError(f"{self.name} mask {self.mask} refers to anchors beyond num={num}")
        if self.iou_loss not in IOU_LOSSES:
            raise CfgError(f"{self.name} iou_loss '{self.iou_loss}' is not one of "
                           f"{', '.join(IOU_LOSSES)}")
        if self.iou_thresh_kind not in THRESH_KINDS:
            raise CfgError(f"{self.name} iou_thresh_kind '{self.iou_thresh_kind}' is not one of "
                           f"{', '.join(THRESH_KINDS)}")
        if self.cls_normalizer_mode not in ("darknet", "all"):
            raise CfgError(f"{self.name} cls_normalizer_mode must be 'darknet' or 'all'")
        if self.class_multipliers is not None and len(self.class_multipliers) != self.classes:
            raise CfgError(f"{self.name} counters_per_class has {len(self.class_multipliers)} "
                           f"values for classes={self.classes}")

    @classmethod
    def from_settings(cls, y: YoloSettings, anchors: Optional[Tensor] = None,
                      mask: Optional[Sequence[int]] = None, classes: Optional[int] = None,
                      **overrides: Any) -> "LayerSpec":
        """The loss settings of a ``[yolo]`` layer (:class:`YoloSettings`); ``anchors``,
        ``mask``, ``classes`` replace the section's (a layer's own tensors), ``overrides``
        (Darknet key names, plus ``cls_normalizer_mode``) win over the rest."""
        if anchors is None:
            anchors = torch.tensor(y.anchors, dtype=torch.float32).reshape(-1, 2)
        counters = y.counters_per_class
        kw = {name: getattr(y, name) for name in _FROM_SETTINGS}
        kw["class_multipliers"] = class_multipliers(counters, y.max_delta) if counters else None
        spec = cls(anchors=anchors, mask=list(y.mask if mask is None else mask),
                   classes=int(y.classes if classes is None else classes), name=y.where, **kw)
        return spec.with_overrides(**overrides) if overrides else spec

    @classmethod
    def from_section(cls, section: Any, anchors: Optional[Tensor] = None,
                     mask: Optional[Sequence[int]] = None, classes: Optional[int] = None,
                     **overrides: Any) -> "LayerSpec":
        """Read a ``[yolo]`` section (``yolov4.darknet.cfg.Section``) with Darknet's defaults;
        see :meth:`from_settings`."""
        return cls.from_settings(YoloSettings.from_section(section), anchors, mask, classes,
                                 **overrides)

    def with_overrides(self, **overrides: Any) -> "LayerSpec":
        """A copy with some settings replaced (Darknet key names; ``max`` = ``max_boxes``;
        ``counters_per_class`` = list of counts)."""
        overrides = dict(overrides)
        if "max" in overrides:
            overrides["max_boxes"] = overrides.pop("max")
        if "counters_per_class" in overrides:
            counts = overrides.pop("counters_per_class")
            md = overrides.get("max_delta", self.max_delta)
            overrides["class_multipliers"] = class_multipliers(counts, md) if counts else None
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise CfgError(f"{self.name} unknown loss setting(s): {', '.join(unknown)}")
        return replace(self, **overrides)


def class_multipliers(counters: Sequence[int], max_delta: float) -> List[float]:
    """Darknet's ``get_classes_multipliers``: counts < 1 count as 1; ``max / count`` capped at
    ``max_delta``."""
    counts = [max(1, int(c)) for c in counters]
    top = float(max(counts))
    return [min(top / c, max_delta) for c in counts]


@dataclass
class Truths:
    """Ground truths of a mini-batch, normalised to the network input.

    ``img``, ``cls``: ``Tensor[M]`` int64; ``box``: ``Tensor[M, 4]`` cxcywh in [0, 1];
    ``padded``: ``Tensor[B, T, 4]`` xyxy (normalised) per image, ``valid``: ``Tensor[B, T]`` bool,
    ``slot``: ``Tensor[M]`` position of each truth in ``padded``.
    """

    img: Tensor
    cls: Tensor
    box: Tensor
    padded: Tensor
    valid: Tensor
    slot: Tensor

    @property
    def count(self) -> int:
        return int(self.img.numel())


def prepare_truths(targets: Tensor, batch_size: int, input_hw: Tuple[int, int], classes: int,
                   max_boxes: int = 200, device: Optional[torch.device] = None) -> Truths:
    """Validate loader targets and normalise them.

    Args:
        targets: ``Tensor[M, 6]`` rows (image_index, class, x1, y1, x2, y2) in input pixels.
        batch_size: B; input_hw: (H, W) of the network input; classes: the layer's class count.
        max_boxes: Darknet's ``max``: only the first ``max_boxes`` truths of an image are used.

    Boxes with zero or negative width/height are dropped (Darknet's loader drops boxes under
    one pixel before the loss sees them). Raises :class:`DataError` for a bad shape, an image
    index outside the batch or a class outside ``[0, classes)`` (Darknet skips such labels with a
    warning).
    """
    device = device if device is not None else targets.device
    t = torch.as_tensor(targets).to(device=device, dtype=torch.float32)
    if t.dim() != 2 or t.shape[1] != 6:
        raise DataError(f"loss targets must be Tensor[M, 6] (image, class, x1, y1, x2, y2), "
                        f"got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise DataError("loss targets hold NaN or inf")
    img, cls = t[:, 0].long(), t[:, 1].long()
    if t.shape[0]:
        lo_i, hi_i = int(img.min()), int(img.max())
        if lo_i < 0 or hi_i >= batch_size:
            bad_i = lo_i if lo_i < 0 else hi_i
            raise DataError(f"target image index {bad_i} outside the batch of {batch_size}")
        if int(cls.min()) < 0 or int(cls.max()) >= classes:
            bad = int(cls.max()) if int(cls.max()) >= classes else int(cls.min())
            raise DataError(f"target class {bad} outside [0, {classes}) of the [yolo] layer "
                            "(does the dataset's names match the model's classes?)")
    H, W = input_hw
    x1, y1, x2, y2 = t[:, 2] / W, t[:, 3] / H, t[:, 4] / W, t[:, 5] / H
    box = torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), -1)
    keep = (box[:, 2] > 0) & (box[:, 3] > 0)
    img, cls, box = img[keep], cls[keep], box[keep]
    # rank of each truth inside its image, preserving row order (Darknet's label order)
    order = torch.argsort(img, stable=True)
    counts = torch.bincount(img, minlength=batch_size)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(img)
    rank[order] = torch.arange(img.numel(), device=device) - starts[img[order]]
    keep = rank < max_boxes
    img, cls, box, rank = img[keep], cls[keep], box[keep], rank[keep]
    T = int(min(int(counts.max()) if counts.numel() else 0, max_boxes))
    padded = torch.zeros(batch_size, max(T, 1), 4, device=device)
    valid = torch.zeros(batch_size, max(T, 1), dtype=torch.bool, device=device)
    xyxy = torch.cat((box[:, :2] - box[:, 2:] / 2, box[:, :2] + box[:, 2:] / 2), -1)
    padded[img, rank] = xyxy
    valid[img, rank] = True
    return Truths(img=img, cls=cls, box=box, padded=padded, valid=valid, slot=rank)


def best_truth_iou(pred_xyxy: Tensor, truths: Truths, chunk: int = 32) -> Tuple[Tensor, Tensor]:
    """For every prediction, the best IoU with any truth of its image (Darknet's pass 1).

    Args:
        pred_xyxy: ``Tensor[B, N, 4]`` xyxy normalised predicted boxes.

    Returns:
        ``(best_iou Tensor[B, N], best_t Tensor[B, N])``, ``best_t`` indexing ``truths.padded``
        (first maximum; 0 where no truth overlaps).
    """
    B, N, _ = pred_xyxy.shape
    best = torch.zeros(B, N, device=pred_xyxy.device)
    best_t = torch.zeros(B, N, dtype=torch.long, device=pred_xyxy.device)
    T = truths.padded.shape[1]
    for s in range(0, T, chunk):  # loop over truth chunks only (memory B·N·chunk)
        tb = truths.padded[:, None, s:s + chunk]
        iou = bbox_similarity(pred_xyxy[:, :, None], tb, "iou", eps=0.0).nan_to_num(0.0)
        iou = iou.masked_fill(~truths.valid[:, None, s:s + chunk], 0.0)
        val, idx = iou.max(-1)
        better = val > best  # strict: earlier truths win ties, as Darknet's `iou > best_iou`
        best = torch.where(better, val, best)
        best_t = torch.where(better, idx + s, best_t)
    return best, best_t


def shape_similarity(truth_wh: Tensor, anchor_wh: Tensor, kind: str) -> Tensor:
    """Darknet's ``box_iou_kind`` of centre-aligned shapes -> ``Tensor[M, num]``.

    Args:
        truth_wh: ``Tensor[M, 2]``, anchor_wh: ``Tensor[num, 2]``, both normalised to the input.
    """
    if kind == "iou":
        return wh_iou(truth_wh, anchor_wh)
    # isotropic rescale keeps every ratio (IoU, aspect) and makes the eps of bbox_similarity
    # negligible for small normalised areas
    t = torch.cat((-truth_wh, truth_wh), -1)[:, None] * 500.0
    a = torch.cat((-anchor_wh, anchor_wh), -1)[None] * 500.0
    return bbox_similarity(a, t, kind, diou_exponent=0.6)


@dataclass
class Pairs:
    """(truth, anchor) assignments of one layer, in Darknet's processing order.

    All ``Tensor[P]``: ``t`` index into the Truths, ``n`` absolute anchor index, ``a`` mask
    slot, ``i``/``j`` cell column/row, ``slot`` flat index into ``[B, A, H, W]``, ``first``/``last``
    (bool) whether the pair is the first/last one written to its slot.
    """

    t: Tensor
    n: Tensor
    a: Tensor
    i: Tensor
    j: Tensor
    slot: Tensor
    first: Tensor
    last: Tensor


def match_anchors(truths: Truths, spec: LayerSpec, grid_hw: Tuple[int, int],
                  input_hw: Tuple[int, int]) -> Pairs:
    """Darknet's pass 2 assignment for one layer (see module docstring)."""
    device = truths.box.device
    H, W = grid_hw
    neth, netw = input_hw
    A = len(spec.mask)
    anchors = spec.anchors.to(device)
    num = anchors.shape[0]
    anchors_n = anchors / torch.tensor([netw, neth], dtype=torch.float32, device=device)
    mask_pos = torch.full((num,), -1, dtype=torch.long, device=device)
    mask_idx = torch.tensor(spec.mask, dtype=torch.long, device=device)
    mask_pos[mask_idx] = torch.arange(A, device=device)
    M = truths.count
    ious = wh_iou(truths.box[:, 2:], anchors_n)  # [M, num]
    best_n = ious.argmax(1) if M else torch.zeros(0, dtype=torch.long, device=device)
    take = mask_pos[best_n] >= 0
    t_idx = [torch.arange(M, device=device)[take]]
    n_idx = [best_n[take]]
    key = [t_idx[0] * (num + 1)]
    if spec.iou_thresh < 1.0 and M:
        sim = shape_similarity(truths.box[:, 2:], anchors_n, spec.iou_thresh_kind)
        ok = (sim > spec.iou_thresh) & (mask_pos[None] >= 0)
        ok &= torch.arange(num, device=device)[None] != best_n[:, None]
        tt, nn = ok.nonzero(as_tuple=True)
        t_idx.append(tt)
        n_idx.append(nn)
        key.append(tt * (num + 1) + nn + 1)
    t_all, n_all, key_all = torch.cat(t_idx), torch.cat(n_idx), torch.cat(key)
    order = torch.argsort(key_all)
    t_all, n_all = t_all[order], n_all[order]
    a_all = mask_pos[n_all]
    box = truths.box[t_all]
    i = (box[:, 0] * W).long().clamp(0, W - 1)
    j = (box[:, 1] * H).long().clamp(0, H - 1)
    slot = ((truths.img[t_all] * A + a_all) * H + j) * W + i
    P = slot.numel()
    pos = torch.arange(P, device=device)
    first = torch.zeros(P, dtype=torch.bool, device=device)
    last = torch.zeros_like(first)
    if P:
        uniq, inv = torch.unique(slot, return_inverse=True)
        lo = torch.full((uniq.numel(),), P, dtype=torch.long, device=device).scatter_reduce(
            0, inv, pos, "amin")
        hi = torch.full((uniq.numel(),), -1, dtype=torch.long, device=device).scatter_reduce(
            0, inv, pos, "amax")
        first, last = lo[inv] == pos, hi[inv] == pos
    return Pairs(t=t_all, n=n_all, a=a_all, i=i, j=j, slot=slot, first=first, last=last)
