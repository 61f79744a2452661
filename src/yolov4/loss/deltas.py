"""Darknet's ``[yolo]`` deltas for one layer: pass 1 (negatives, ignore, truth_thresh), pass 2
(positives), class/objectness targets, averaging, and the self-adversarial pass.

Every delta is written as ``δ = weight · (target − output)`` (objectness and classes) or taken from
:func:`yolov4.loss.box_loss.yolo_box_deltas` (box), so the same arrays give Darknet's gradient
(``grad(z) = −δ``) and a logging value (weighted BCE for objectness/classes). Tensors are
``Tensor[B, A, H, W, 5 + C]`` (A = len(mask)); everything runs under ``torch.no_grad`` in fp32.
See DARKNET_SEMANTICS §3 and ``src/yolo_layer.c: process_batch, delta_yolo_class``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from yolov4.ops.boxes import box_convert

from .assign import LayerSpec, Truths, best_truth_iou, match_anchors
from .box_loss import yolo_box_deltas, yolo_pred_boxes

#: ``compare_yolo_class``'s threshold: a cell can be ignored only if some class prob exceeds it.
CLASS_MATCH_THRESH = 0.25
#: Darknet's focal-loss alpha (``delta_yolo_class``), gamma = 2 hard-coded in its formula.
FOCAL_ALPHA = 0.5


@dataclass
class LayerDeltas:
    """Result for one layer: ``delta`` ``Tensor[B, A, H, W, 5 + C]`` (Darknet's δ, before
    ``delta_normalizer``) and 0-dim logging values ``box``, ``obj``, ``cls``; ``stats`` counts."""

    delta: Tensor
    box: Tensor
    obj: Tensor
    cls: Tensor
    stats: Dict[str, float]


def activate(z: Tensor, spec: LayerSpec) -> Tensor:
    """Darknet's ``l.output`` from the raw layer input ``Tensor[B, A, H, W, 5 + C]``: logistic on
    x, y, obj, classes (none with ``new_coords``: the conv applied it), then x, y scaled by
    ``scale_x_y`` around 0.5."""
    s = spec.scale_x_y
    if spec.new_coords:
        o = z.clone()
    else:
        o = torch.sigmoid(z)
        o[..., 2:4] = z[..., 2:4]
    if s != 1.0:
        o[..., :2] = o[..., :2] * s - 0.5 * (s - 1)
    return o


def _grid_boxes(o: Tensor, spec: LayerSpec, input_hw: Tuple[int, int]) -> Tensor:
    B, A, H, W, _ = o.shape
    dev = o.device
    anchors = spec.anchors.to(dev)[spec.mask].view(1, A, 1, 1, 2)
    gx = torch.arange(W, device=dev, dtype=o.dtype).view(1, 1, 1, W)
    gy = torch.arange(H, device=dev, dtype=o.dtype).view(1, 1, H, 1)
    return yolo_pred_boxes(o[..., :4], gx, gy, anchors, (W, H), (input_hw[1], input_hw[0]),
                           spec.new_coords)


def _multipliers(spec: LayerSpec, device: torch.device) -> Tensor:
    if spec.class_multipliers is None:
        return torch.ones(spec.classes, device=device)
    return torch.tensor(spec.class_multipliers, dtype=torch.float32, device=device)


def smooth_target(eps: float) -> Tuple[float, float]:
    """Darknet's label smoothing: (positive, negative) target = (1·(1−ε) + ε/2, ε/2)."""
    if not eps:
        return 1.0, 0.0
    return 1.0 * (1 - eps) + 0.5 * eps, 0.5 * eps


def full_class_targets(p: Tensor, cls: Tensor, spec: LayerSpec) -> Tuple[Tensor, Tensor]:
    """``delta_yolo_class`` on a slot with no class delta yet: targets and weights ``[S, C]``.

    Default: target ``onehot·(1−ε) + ε/2``, weight 1; the true class's weight is
    ``mult[c]·cls_normalizer`` only when ``counters_per_class`` is set (Darknet), or
    ``cls_normalizer`` everywhere in ``cls_normalizer_mode="all"``.
    ``focal_loss``: target onehot (no smoothing, no multiplier), weight ``0.5·g`` with
    ``g = −(1−pt)(2·pt·ln pt + pt − 1)``, ``pt = p_true + 1e-15``.
    """
    S, C = p.shape
    onehot = F.one_hot(cls, C).to(p.dtype)
    rows = torch.arange(S, device=p.device)
    if spec.focal_loss:
        pt = p[rows, cls] + 1e-15
        g = -(1 - pt) * (2 * pt * torch.log(pt) + pt - 1)
        w = (FOCAL_ALPHA * g)[:, None].expand(S, C).clone()
        if spec.cls_normalizer_mode == "all":
            w = w * spec.cls_normalizer
        return onehot, w
    pos, neg = smooth_target(spec.label_smooth_eps)
    target = onehot * (pos - neg) + neg
    w = torch.ones_like(p)
    mult = _multipliers(spec, p.device)[cls]
    if spec.cls_normalizer_mode == "all":
        w = w * spec.cls_normalizer
        w[rows, cls] = mult * spec.cls_normalizer
    elif spec.class_multipliers is not None:
        w[rows, cls] = mult * spec.cls_normalizer
    return target, w


def _bce(z: Tensor, target: Tensor, prob: bool) -> Tensor:
    if prob:  # new_coords: z already is a probability
        return F.binary_cross_entropy(z.clamp(1e-7, 1 - 1e-7), target, reduction="none")
    return F.binary_cross_entropy_with_logits(z, target, reduction="none")


@torch.no_grad()
def layer_deltas(z: Tensor, spec: LayerSpec, truths: Truths,
                 input_hw: Tuple[int, int]) -> LayerDeltas:
    """Darknet's δ for one ``[yolo]`` layer.

    Args:
        z: ``Tensor[B, A, H, W, 5 + C]`` raw layer input (fp32).
        truths: normalised ground truths (:func:`yolov4.loss.assign.prepare_truths`).
        input_hw: (H, W) of the network input in pixels.
    """
    B, A, H, W, K = z.shape
    C = K - 5
    dev = z.device
    S = B * A * H * W
    o = activate(z, spec)
    pred = _grid_boxes(o, spec, input_hw)
    of = o.reshape(S, K)
    p_obj, p_cls = of[:, 4], of[:, 5:]
    net_wh = (input_hw[1], input_hw[0])
    mult = _multipliers(spec, dev)
    on = spec.obj_normalizer

    # ---- pass 1: every prediction is a negative unless it overlaps a truth enough -------------
    best_iou, best_t = best_truth_iou(box_convert(pred, "cxcywh", "xyxy").view(B, -1, 4), truths)
    best_iou, best_t = best_iou.reshape(S), best_t.reshape(S)
    # compare_yolo_class quirk: ignore only where *any* class prob > 0.25, whatever the truth class
    class_match = (p_cls > CLASS_MATCH_THRESH).any(-1)
    best_match = torch.where(class_match, best_iou, torch.zeros_like(best_iou))
    ignored = best_match > spec.ignore_thresh
    obj_t = torch.zeros(S, device=dev)
    obj_w = torch.full((S,), float(on), device=dev)
    if spec.objectness_smooth:  # δ = max(on·(0 − o), on·(iou − o)) = on·(iou − o)
        obj_t = torch.where(ignored, best_match, obj_t)
    else:
        obj_w = torch.where(ignored, torch.zeros_like(obj_w), obj_w)
    # box and class deltas live only on the slots a truth touches: keep them compact ([R, ...])
    tt = (best_iou > spec.truth_thresh).nonzero(as_tuple=True)[0]
    pairs = match_anchors(truths, spec, (H, W), input_hw)
    rows = torch.unique(torch.cat((tt, pairs.slot)))
    R = rows.numel()
    cls_t = torch.zeros(R, C, device=dev)
    cls_w = torch.zeros(R, C, device=dev)
    box_d = torch.zeros(R, 4, device=dev)
    box_value = torch.zeros((), device=dev)
    written = torch.zeros(R, dtype=torch.bool, device=dev)  # class deltas already written

    if tt.numel():  # truth_thresh < 1: the best truth of the prediction becomes its target
        r = torch.searchsorted(rows, tt)
        row_of = torch.full(truths.valid.shape, -1, dtype=torch.long, device=dev)
        row_of[truths.img, truths.slot] = torch.arange(truths.count, device=dev)
        b = tt // (A * H * W)
        a = (tt // (H * W)) % A
        j, i = (tt // W) % H, tt % W
        tru = row_of[b, best_t[tt]]
        c = truths.cls[tru]
        iou2 = best_iou[tt] ** 2
        obj_t[tt] = iou2 if spec.objectness_smooth else 1.0
        obj_w[tt] = on
        t_full, w_full = full_class_targets(p_cls[tt], c, spec)
        if spec.objectness_smooth:
            t_full[torch.arange(tt.numel(), device=dev), c] = iou2
            w_full[torch.arange(tt.numel(), device=dev), c] = mult[c]
        cls_t[r], cls_w[r] = t_full, w_full
        written[r] = True
        anchors = spec.anchors.to(dev)[torch.tensor(spec.mask, device=dev)[a]]
        d, v, _ = yolo_box_deltas(of[tt, :4], i.float(), j.float(), anchors, truths.box[tru],
                                  (W, H), net_wh, iou_loss=spec.iou_loss,
                                  iou_normalizer=spec.iou_normalizer * mult[c],
                                  max_delta=spec.max_delta, new_coords=spec.new_coords)
        box_d.index_add_(0, r, d)
        box_value = box_value + v.sum()

    # ---- pass 2: positives, in Darknet's truth order ------------------------------------------
    stats = {"count": 0.0, "iou_sum": 0.0, "recall50": 0.0, "recall75": 0.0, "rewritten": 0.0}
    pair_loss = 0.0   # Σ (1 − IoU), or Σ (1 − GIoU) for giou: Darknet's tot_(g)iou_loss
    if pairs.slot.numel():
        slot = pairs.slot
        r = torch.searchsorted(rows, slot)
        c = truths.cls[pairs.t]
        m = mult[c]
        d, v, iou = yolo_box_deltas(of[slot, :4], pairs.i.float(), pairs.j.float(),
                                    spec.anchors.to(dev)[pairs.n], truths.box[pairs.t], (W, H),
                                    net_wh, iou_loss=spec.iou_loss,
                                    iou_normalizer=spec.iou_normalizer * m,
                                    max_delta=spec.max_delta, new_coords=spec.new_coords)
        rewritten = (~pairs.first) | (written[r] & (box_d[r] != 0).any(-1))
        box_d.index_add_(0, r, d)
        box_value = box_value + v.sum()
        if spec.objectness_smooth:  # set only where the delta is still 0 (an ignored cell)
            cur = obj_w[slot] * (obj_t[slot] - p_obj[slot])
            sel = pairs.first & (cur == 0)
        else:  # rewritten by every pair: the last one's multiplier stays
            sel = pairs.last
        obj_t[slot[sel]] = 1.0
        obj_w[slot[sel]] = m[sel] * on
        full = pairs.first & ~written[r]
        cls_t[r[full]], cls_w[r[full]] = full_class_targets(p_cls[slot[full]], c[full], spec)
        ml = ~full  # multi-label path: only the truth's own class is set to y − p (× mult)
        pos, _ = smooth_target(spec.label_smooth_eps)
        ml_w = mult[c[ml]] * (spec.cls_normalizer if spec.cls_normalizer_mode == "all" else 1.0)
        cls_t[r[ml], c[ml]] = pos
        cls_w[r[ml], c[ml]] = ml_w
        if spec.iou_loss == "giou":
            norm = spec.iou_normalizer * m              # v = norm·mult·(1 − GIoU)
            pair_loss = float((v / norm).sum()) if spec.iou_normalizer else 0.0
        else:
            pair_loss = float((1 - iou).sum())
        stats = {"count": float(slot.numel()), "iou_sum": float(iou.sum()),
                 "recall50": float((iou > 0.5).sum()), "recall75": float((iou > 0.75).sum()),
                 "rewritten": float(rewritten.sum())}

    delta_obj = obj_w * (obj_t - p_obj)
    delta_cls = cls_w * (cls_t - p_cls[rows])
    if spec.iou_thresh < 1.0:  # averages_yolo_deltas
        box_d = _average_box(box_d, delta_obj[rows], delta_cls)
    delta = torch.zeros(S, K, device=dev)
    delta[:, 4] = delta_obj
    delta[rows, :4] = box_d
    delta[rows, 5:] = delta_cls
    stats["darknet_cost"] = _darknet_cost(delta, spec, stats["count"], pair_loss)
    delta = delta.view(B, A, H, W, K)
    zf = z.reshape(S, K)
    prob = spec.new_coords
    obj_value = (obj_w * _bce(zf[:, 4], obj_t, prob)).sum()
    cls_value = (cls_w * _bce(zf[rows, 5:], cls_t, prob)).sum()
    return LayerDeltas(delta=delta, box=box_value, obj=obj_value, cls=cls_value, stats=stats)


def _darknet_cost(delta: Tensor, spec: LayerSpec, count: float, pair_loss: float) -> float:
    """The layer's ``*(l.cost)`` as Darknet prints it (``show_details=1``, DARKNET_SEMANTICS §3.7).

    ``delta`` ``Tensor[S, 5 + C]``: mse ``‖δ‖²``; IoU kinds ``obj_normalizer·‖δ without the box
    channels‖² + iou_normalizer·pair_loss / count`` (count 0 counts as 1). Summed over the
    mini-batch; no effect on gradients."""
    if spec.iou_loss == "mse":
        return float((delta * delta).sum())
    rest = delta[:, 4:]
    return (spec.obj_normalizer * float((rest * rest).sum())
            + spec.iou_normalizer * pair_loss / max(count, 1.0))


def _average_box(box_d: Tensor, delta_obj: Tensor, delta_cls: Tensor) -> Tensor:
    """Divide the box deltas of every slot with a non-zero objectness delta by its number of
    classes with a positive delta (Darknet's ``averages_yolo_deltas``)."""
    n = (delta_cls > 0).sum(-1)
    div = torch.where((delta_obj != 0) & (n > 0), n, torch.ones_like(n)).to(box_d.dtype)
    return box_d / div[:, None]


@torch.no_grad()
def adversarial_deltas(z: Tensor, spec: LayerSpec, input_hw: Tuple[int, int]) -> Tensor:
    """Darknet's δ of the self-adversarial pass (all-zero truths, ``net.adversarial=1``; §4.7).

    For every prediction, with ``s = sqrt(w·h)`` of its decoded (normalised) box:
    ``δobj = s·obj_norm·(0 − obj)``; classes with ``cls·obj > 0.25`` get ``s·(0 − cls)``; if any did,
    the classes with ``cls·obj < 0.25`` get ``s·(1 − cls)`` and the 4 box outputs ``s·(0 − o)``.

    Returns ``Tensor[B, A, H, W, 5 + C]`` (before ``delta_normalizer``).
    """
    B, A, H, W, K = z.shape
    o = activate(z, spec)
    pred = _grid_boxes(o, spec, input_hw)
    area = pred[..., 2] * pred[..., 3]
    s = torch.where(area > 0, torch.sqrt(area.clamp(min=0)), area)[..., None]
    p_obj, p_cls = o[..., 4:5], o[..., 5:]
    conf = p_cls * p_obj
    hit = conf > CLASS_MATCH_THRESH
    found = hit.any(-1, keepdim=True)
    d_obj = s * spec.obj_normalizer * (0 - p_obj)
    zero = torch.zeros_like(p_cls)
    d_cls = torch.where(hit, s * (0 - p_cls), zero)
    d_cls = torch.where(found & (conf < CLASS_MATCH_THRESH), s * (1 - p_cls), d_cls)
    d_box = torch.where(found, s * (0 - o[..., :4]), torch.zeros_like(o[..., :4]))
    if spec.iou_thresh < 1.0:
        S = B * A * H * W
        d_box = _average_box(d_box.reshape(S, 4), d_obj.reshape(S),
                             d_cls.reshape(S, K - 5)).view(B, A, H, W, 4)
    return torch.cat((d_box, d_obj, d_cls), -1)
