"""Box deltas of Darknet's ``[yolo]`` loss: MSE targets and the IoU-family gradients (``dx_box_iou``).

Darknet (``src/yolo_layer.c: delta_yolo_box``, ``src/box.c: dx_box_iou``) does not differentiate a
loss: it writes a *delta* δ (the negative gradient, "target − output") for every raw output and the
backward pass adds δ into the conv below. This module reproduces those deltas, vectorised over
(truth, anchor) pairs, so the loss can set ``grad(z) = −δ`` exactly.

Conventions: boxes are ``Tensor[P, 4]`` **cxcywh normalised to the network input** (Darknet's
``box``: x, y, w, h in [0, 1]); ``o`` is Darknet's activated output of the 4 box channels
(x, y = σ(z)·scale_x_y − (scale_x_y − 1)/2; w, h = raw z, or the conv's logistic output with
``new_coords``).

Quirks reproduced on purpose (DARKNET_SEMANTICS §3.3):
- the IoU part of dw/dh is 2× the analytic derivative (``dx_box_iou`` does not halve dr − dl);
- DIoU/CIoU: the enclosing-box term enters dx/dy with the sign opposite to the analytic one;
- CIoU's aspect term drops the 1/(w² + h²) factor and treats α as a constant;
- without overlap the GIoU/DIoU/CIoU gradient keeps only the penalty term;
- dw/dh are multiplied by e^{z_w}, e^{z_h} (not with ``new_coords``); no 1/lw, anchor, sigmoid or
  scale_x_y factor; NaN/inf → 0 and ±``max_delta`` clipping only in the IoU branch;
- the MSE branch scales by ``2 − w·h`` (the IoU branch ignores that scale).
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor

from yolov4.darknet.yolo_settings import IOU_LOSSES
from yolov4.layers.yolo import yolo_boxes
from yolov4.ops.boxes import bbox_similarity, box_convert


def yolo_pred_boxes(o4: Tensor, cell_x: Tensor, cell_y: Tensor, anchor_wh: Tensor,
                    grid_wh: Tuple[int, int], net_wh: Tuple[int, int],
                    new_coords: bool) -> Tensor:
    """Darknet's ``get_yolo_box`` for activated box outputs (:func:`yolov4.layers.yolo.yolo_boxes`
    with the anchors in input pixels).

    Args:
        o4: ``Tensor[..., 4]`` activated x, y (already scaled by scale_x_y) and w, h.
        cell_x, cell_y: column i and row j of each prediction (broadcast against ``o4[..., 0]``).
        anchor_wh: ``Tensor[..., 2]`` anchor sizes in input pixels.
        grid_wh: (lw, lh) of the layer; net_wh: (netw, neth) of the network input.

    Returns:
        ``Tensor[..., 4]`` cxcywh normalised to the network input.
    """
    net = torch.tensor(net_wh, dtype=anchor_wh.dtype, device=anchor_wh.device)
    return yolo_boxes(o4[..., 0:2], o4[..., 2:4], cell_x, cell_y, grid_wh, anchor_wh / net,
                      int(new_coords))


def dx_box_iou(pred: Tensor, truth: Tensor, kind: str) -> Tensor:
    """Darknet's ``dx_box_iou``: the (quirky) gradient of IoU/GIoU/DIoU/CIoU w.r.t. the prediction.

    Args:
        pred, truth: ``Tensor[P, 4]`` cxcywh (normalised units).
        kind: ``"iou"``, ``"giou"``, ``"diou"`` or ``"ciou"``.

    Returns:
        ``Tensor[P, 4]`` (dx, dy, dw, dh): the direction that *increases* the similarity
        (Darknet's delta before the e^{z} factor and the normaliser). May hold NaN/inf for
        degenerate inputs, exactly where Darknet's does; the caller zeroes them.
    """
    px, py, pw, ph = pred.unbind(-1)
    tx, ty, tw, th = truth.unbind(-1)
    top, bot, left, right = py - ph / 2, py + ph / 2, px - pw / 2, px + pw / 2
    p_t, p_b = torch.minimum(top, bot), torch.maximum(top, bot)
    p_l, p_r = torch.minimum(left, right), torch.maximum(left, right)
    t_t, t_b, t_l, t_r = ty - th / 2, ty + th / 2, tx - tw / 2, tx + tw / 2

    X = (p_b - p_t) * (p_r - p_l)
    Xhat = (t_b - t_t) * (t_r - t_l)
    Ih = torch.minimum(p_b, t_b) - torch.maximum(p_t, t_t)
    Iw = torch.minimum(p_r, t_r) - torch.maximum(p_l, t_l)
    I = Iw * Ih  # not clamped, as Darknet  # noqa: E741
    U = X + Xhat - I
    S = (px - tx) ** 2 + (py - ty) ** 2
    gCw = torch.maximum(p_r, t_r) - torch.minimum(p_l, t_l)
    gCh = torch.maximum(p_b, t_b) - torch.minimum(p_t, t_t)
    gC = gCw * gCh

    zero = torch.zeros_like(px)
    dX_t, dX_b, dX_l, dX_r = -(p_r - p_l), p_r - p_l, -(p_b - p_t), p_b - p_t
    dI_t = torch.where(p_t > t_t, -Iw, zero)
    dI_b = torch.where(p_b < t_b, Iw, zero)
    dI_l = torch.where(p_l > t_l, -Ih, zero)
    dI_r = torch.where(p_r < t_r, Ih, zero)
    dU_t, dU_b, dU_l, dU_r = dX_t - dI_t, dX_b - dI_b, dX_l - dI_l, dX_r - dI_r
    dC_t = torch.where(p_t < t_t, -gCw, zero)
    dC_b = torch.where(p_b > t_b, gCw, zero)
    dC_l = torch.where(p_l < t_l, -gCh, zero)
    dC_r = torch.where(p_r > t_r, gCh, zero)

    pos_u = U > 0
    U2 = torch.where(pos_u, U * U, torch.ones_like(U))
    p_dt = torch.where(pos_u, (U * dI_t - I * dU_t) / U2, zero)
    p_db = torch.where(pos_u, (U * dI_b - I * dU_b) / U2, zero)
    p_dl = torch.where(pos_u, (U * dI_l - I * dU_l) / U2, zero)
    p_dr = torch.where(pos_u, (U * dI_r - I * dU_r) / U2, zero)
    # "apply grad from prediction min/max for correct corner selection" (sequential, as in C)
    tb_ok, lr_ok = top < bot, left < right
    p_dt = torch.where(tb_ok, p_dt, p_db)
    p_db = torch.where(tb_ok, p_db, p_dt)
    p_dl = torch.where(lr_ok, p_dl, p_dr)
    p_dr = torch.where(lr_ok, p_dr, p_dl)

    no_overlap = (Iw <= 0) | (Ih <= 0)
    if kind == "giou":
        gC2 = gC * gC
        g_t = (gC * dU_t - U * dC_t) / gC2
        g_b = (gC * dU_b - U * dC_b) / gC2
        g_l = (gC * dU_l - U * dC_l) / gC2
        g_r = (gC * dU_r - U * dC_r) / gC2
        p_dt, p_db, p_dl, p_dr = (_add_penalty(p, g, gC > 0, no_overlap) for p, g in
                                  ((p_dt, g_t), (p_db, g_b), (p_dl, g_l), (p_dr, g_r)))

    p_dx = p_dl + p_dr
    p_dy = p_dt + p_db
    p_dw = p_dr - p_dl  # "For dw and dh, we do not divided by 2."
    p_dh = p_db - p_dt

    if kind in ("diou", "ciou"):
        Cw, Ch = gCw, gCh  # the C box of the distance term is the same enclosing box
        C = Cw * Cw + Ch * Ch
        one = torch.ones_like(px)
        dCw_dx = torch.where(p_r > t_r, one, zero) - torch.where(p_l < t_l, one, zero)
        dCw_dw = torch.where(p_r > t_r, 0.5 * one, zero) - torch.where(p_l < t_l, -0.5 * one, zero)
        dCh_dy = torch.where(p_b > t_b, one, zero) - torch.where(p_t < t_t, one, zero)
        dCh_dh = torch.where(p_b > t_b, 0.5 * one, zero) - torch.where(p_t < t_t, -0.5 * one, zero)
        C2 = C * C
        d_x = (2 * (tx - px) * C - (2 * Cw * dCw_dx) * S) / C2
        d_y = (2 * (ty - py) * C - (2 * Ch * dCh_dy) * S) / C2
        d_w = (2 * Cw * dCw_dw) * S / C2
        d_h = (2 * Ch * dCh_dh) * S / C2
        if kind == "ciou":
            diff = torch.atan(tw / th) - torch.atan(pw / ph)
            ar_loss = 4 / (math.pi ** 2) * diff * diff
            alpha = ar_loss / (1 - I / U + ar_loss + 0.000001)
            d_w = d_w + alpha * (8 / (math.pi ** 2) * diff * ph)
            d_h = d_h + alpha * (-8 / (math.pi ** 2) * diff * pw)
        p_dx, p_dy, p_dw, p_dh = (_add_penalty(p, d, C > 0, no_overlap) for p, d in
                                  ((p_dx, d_x), (p_dy, d_y), (p_dw, d_w), (p_dh, d_h)))
    return torch.stack((p_dx, p_dy, p_dw, p_dh), -1)


def _add_penalty(p: Tensor, g: Tensor, pos: Tensor, no_overlap: Tensor) -> Tensor:
    """``dx_box_iou``'s two statements per gradient, elementwise:
    ``if (C > 0) p += g;`` then ``if (Iw <= 0 || Ih <= 0) p = g;`` (the penalty term only)."""
    return torch.where(no_overlap, g, torch.where(pos, p + g, p))


def yolo_box_deltas(o4: Tensor, cell_x: Tensor, cell_y: Tensor, anchor_wh: Tensor,
                    truth: Tensor, grid_wh: Tuple[int, int], net_wh: Tuple[int, int], *,
                    iou_loss: str, iou_normalizer: Tensor, max_delta: float = math.inf,
                    new_coords: bool = False) -> Tuple[Tensor, Tensor, Tensor]:
    """Darknet's ``delta_yolo_box`` for P (truth, anchor, cell) pairs.

    Args:
        o4: ``Tensor[P, 4]`` activated box outputs at the assigned slots.
        cell_x, cell_y: ``Tensor[P]`` column i / row j of the slot.
        anchor_wh: ``Tensor[P, 2]`` the pair's anchor in input pixels.
        truth: ``Tensor[P, 4]`` cxcywh normalised ground truths.
        iou_loss: ``"mse"``, ``"iou"``, ``"giou"``, ``"diou"`` or ``"ciou"``.
        iou_normalizer: ``Tensor[P]`` ``iou_normalizer`` (times the class multiplier).
        max_delta: clip of each IoU-branch delta (Darknet's ``max_delta``; inf = off).

    Returns:
        ``(delta Tensor[P, 4], value Tensor[P], iou Tensor[P])``: Darknet's δ to *add* at the slot;
        a loss value for logging (MSE: ½·(2 − w·h)·norm·Σ(t − o)²; IoU kinds: norm·(1 − sim));
        the plain IoU of prediction and truth (statistics).
    """
    lw, lh = grid_wh
    netw, neth = net_wh
    pred = yolo_pred_boxes(o4, cell_x, cell_y, anchor_wh, grid_wh, net_wh, new_coords)
    pred_xyxy = box_convert(pred, "cxcywh", "xyxy")
    truth_xyxy = box_convert(truth, "cxcywh", "xyxy")
    iou = bbox_similarity(pred_xyxy, truth_xyxy, "iou", eps=0.0).nan_to_num(0.0)
    if iou_loss == "mse":
        scale = (2 - truth[:, 2] * truth[:, 3]) * iou_normalizer
        tx = truth[:, 0] * lw - cell_x
        ty = truth[:, 1] * lh - cell_y
        if new_coords:
            tw = torch.sqrt(truth[:, 2] * netw / (4 * anchor_wh[:, 0]))
            th = torch.sqrt(truth[:, 3] * neth / (4 * anchor_wh[:, 1]))
        else:
            tw = torch.log(truth[:, 2] * netw / anchor_wh[:, 0])
            th = torch.log(truth[:, 3] * neth / anchor_wh[:, 1])
        err = torch.stack((tx, ty, tw, th), -1) - o4
        delta = scale[:, None] * err
        value = 0.5 * scale * (err * err).sum(-1)
        return delta, value, iou
    if iou_loss not in IOU_LOSSES:
        raise ValueError(f"unknown iou_loss '{iou_loss}', expected one of {IOU_LOSSES}")
    # an overflowing exp(tw) makes the box infinite and sim NaN: log it as no overlap (sim 0),
    # as its delta is zeroed below (Darknet's fix_nan_inf), so the logged loss stays finite
    sim = bbox_similarity(pred_xyxy, truth_xyxy, iou_loss).nan_to_num(0.0, 0.0, 0.0)
    value = iou_normalizer * (1 - sim)
    safe = pred.clone()  # "avoid nan in dx_box_iou"
    safe[:, 2] = torch.where(pred[:, 2] == 0, torch.ones_like(pred[:, 2]), pred[:, 2])
    safe[:, 3] = torch.where(pred[:, 3] == 0, torch.ones_like(pred[:, 3]), pred[:, 3])
    d = dx_box_iou(safe, truth, iou_loss)
    if not new_coords:
        d = torch.cat((d[:, :2], d[:, 2:] * torch.exp(o4[:, 2:])), -1)
    d = d * iou_normalizer[:, None]
    d = torch.where(torch.isfinite(d), d, torch.zeros_like(d))
    if math.isfinite(max_delta):
        d = d.clamp(-max_delta, max_delta)
    return d, value, iou
