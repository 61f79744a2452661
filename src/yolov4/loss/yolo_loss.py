"""``YoloLoss``: Darknet's ``[yolo]`` training loss over all YOLO layers, with Darknet's gradients.

Design (DARKNET_SEMANTICS §3.6): for each layer the deltas δ are computed under ``no_grad``
exactly as ``src/yolo_layer.c`` does (:mod:`yolov4.loss.deltas`), and the returned ``total`` is

    total = value.detach() + (S − S.detach()),   S = −Σ_layers delta_normalizer · (δ · z)

so ``total.backward()`` gives every raw output ``z`` the gradient ``−delta_normalizer·δ`` — Darknet's
update direction, quirks included — while the *value* of ``total`` is a meaningful, decreasing loss
(``box + obj + cls``):

- ``box``: MSE: ½·(2 − w·h)·iou_normalizer·Σ(target − o)²; IoU kinds: iou_normalizer·(1 − sim)
  per (truth, anchor) pair (sim = IoU/GIoU/DIoU/CIoU from :mod:`yolov4.ops.boxes`, DIoU exponent 1);
- ``obj``: Σ weight·BCE over non-ignored predictions (its gradient is exactly Darknet's δobj);
- ``cls``: Σ weight·BCE over assigned predictions and classes (likewise, incl. smoothing/focal).

Darknet's printed loss (§3.7) differs (it is ‖δ‖²-based): ``last_stats["darknet_cost"]`` is that
value (the mean over ``[yolo]`` layers of each layer's cost, summed over the mini-batch), beside
Darknet's ``Avg IOU``, ``count``, recalls and ``rewritten`` counts.

Reduction: ``total`` is the **sum over the mini-batch** (Darknet sums deltas over images); the
trainer divides by the cfg ``batch`` (all subdivisions), as Darknet's update does
(``lr/batch · Σ updates``). Computed in fp32 with autocast disabled.

Decisions (documented quirks):
- ``cls_normalizer``: Darknet multiplies the true-class delta by it **only** with
  ``counters_per_class`` (otherwise it has no effect). Default ``cls_normalizer_mode="darknet"``
  reproduces that; ``"all"`` scales every class delta by ``cls_normalizer``.
- ``compare_yolo_class``: a prediction is ignored (``ignore_thresh``) only if *some* class
  probability exceeds 0.25, whatever the truth's class.
- unknown ``iou_loss``/``iou_thresh_kind`` values raise ``CfgError`` (Darknet silently uses IoU).
- targets with a class outside the layer's classes raise ``DataError`` (Darknet skips them);
  zero-size boxes are dropped.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from yolov4.darknet.yolo_settings import YoloSettings
from yolov4.errors import CfgError

from .assign import LayerSpec, prepare_truths
from .deltas import adversarial_deltas, layer_deltas

#: Overrides whose value is itself a list (not one value per layer).
_LIST_KEYS = ("counters_per_class", "class_multipliers", "mask", "anchors")


def _spec_from_layer(layer: Any) -> LayerSpec:
    """The loss settings of a head: its :class:`YoloSettings` (``layer.settings``, else read from
    ``layer.section``) with the layer's own anchors, mask, classes and decode options."""
    settings = getattr(layer, "settings", None) or YoloSettings.from_section(layer.section)
    kw = {}
    if hasattr(layer, "scale_x_y"):
        kw["scale_x_y"] = float(layer.scale_x_y)
    if hasattr(layer, "new_coords"):
        kw["new_coords"] = bool(layer.new_coords)
    anchors = torch.as_tensor(layer.anchors, dtype=torch.float32).detach().cpu().reshape(-1, 2)
    return LayerSpec.from_settings(settings, anchors=anchors, mask=list(layer.mask),
                                   classes=int(layer.classes), **kw)


class YoloLoss:
    """Darknet's YOLO loss for a network's ``[yolo]`` layers.

    Args:
        net: an object with ``yolo_layers`` (``yolov4.darknet.graph.Darknet``): each layer has
            ``anchors`` ``Tensor[num, 2]`` (pixels), ``mask``, ``classes``, ``scale_x_y``,
            ``new_coords`` and ``section`` (its ``[yolo]`` Section, read with Darknet's defaults).
        specs: instead of ``net``, ready :class:`LayerSpec` objects (one per YOLO output).
        **overrides: Darknet key names (``iou_loss="giou"``, ``iou_normalizer=0.07``,
            ``label_smooth_eps=0.1``, ``focal_loss=1``, ``max=100``, ``counters_per_class=[...]``,
            ``cls_normalizer_mode="all"``...). A scalar applies to every layer; a list/tuple with
            one value per layer sets them per layer.

    Call: ``loss(outputs, targets, input_hw) -> (total, parts)`` with ``outputs`` the train-mode
    list of raw ``Tensor[B, A, H_k, W_k, 5 + C]``, ``targets`` ``Tensor[M, 6]``
    (image_index, class, x1, y1, x2, y2) in input pixels, ``input_hw`` (H, W) of the input;
    ``parts = {"box", "obj", "cls"}`` as Python floats (sums over layers and the mini-batch).
    """

    def __init__(self, net: Any = None, *, specs: Optional[Sequence[LayerSpec]] = None,
                 **overrides: Any) -> None:
        if specs is None:
            if net is None or not hasattr(net, "yolo_layers"):
                raise CfgError("YoloLoss needs a network with [yolo] layers (net.yolo_layers)")
            specs = [_spec_from_layer(layer) for layer in net.yolo_layers]
        specs = list(specs)
        if not specs:
            raise CfgError("YoloLoss: the network has no [yolo] layer")
        self.specs: List[LayerSpec] = [self._override(s, k, overrides, len(specs))
                                       for k, s in enumerate(specs)]
        self.last_stats: Dict[str, float] = {}

    @staticmethod
    def _override(spec: LayerSpec, k: int, overrides: Dict[str, Any], n: int) -> LayerSpec:
        if not overrides:
            return spec
        kw = {}
        for key, value in overrides.items():
            per_layer = isinstance(value, (list, tuple)) and (
                key not in _LIST_KEYS or (len(value) == n and isinstance(value[0], (list, tuple))))
            if per_layer:
                if len(value) != n:
                    raise CfgError(f"loss setting '{key}': {len(value)} values for "
                                   f"{n} [yolo] layers")
                value = value[k]
            kw[key] = value
        return spec.with_overrides(**kw)

    def _check(self, outputs: Sequence[Tensor]) -> None:
        if len(outputs) != len(self.specs):
            raise ValueError(f"YoloLoss: {len(outputs)} outputs for {len(self.specs)} "
                             "[yolo] layers")
        for z, spec in zip(outputs, self.specs):
            if z.dim() != 5 or z.shape[1] != len(spec.mask) or z.shape[-1] != 5 + spec.classes:
                raise ValueError(f"YoloLoss: output of shape {tuple(z.shape)} does not fit "
                                 f"{spec.name} (mask {spec.mask}, classes {spec.classes}); "
                                 f"expected [B, {len(spec.mask)}, H, W, {5 + spec.classes}]")

    def __call__(self, outputs: Sequence[Tensor], targets: Tensor,
                 input_hw: Tuple[int, int]) -> Tuple[Tensor, Dict[str, float]]:
        self._check(outputs)
        input_hw = (int(input_hw[0]), int(input_hw[1]))
        dev = outputs[0].device
        with torch.autocast(device_type=dev.type, enabled=False):
            surrogate = torch.zeros((), device=dev)
            values = torch.zeros(3, device=dev)
            stats = {"count": 0.0, "iou_sum": 0.0, "recall50": 0.0, "recall75": 0.0,
                     "rewritten": 0.0, "darknet_cost": 0.0}
            truths_cache: Dict[Tuple[int, int], Any] = {}
            for z, spec in zip(outputs, self.specs):
                z32 = z.float()
                key = (spec.classes, spec.max_boxes)
                if key not in truths_cache:
                    truths_cache[key] = prepare_truths(targets, z.shape[0], input_hw, spec.classes,
                                                       spec.max_boxes, device=dev)
                res = layer_deltas(z32.detach(), spec, truths_cache[key], input_hw)
                dn = spec.delta_normalizer
                surrogate = surrogate - dn * (res.delta * z32).sum()
                values = values + dn * torch.stack((res.box, res.obj, res.cls))
                for k, v in res.stats.items():
                    stats[k] += v
            total = values.sum() + (surrogate - surrogate.detach())
        box, obj, cls = values.tolist()
        count = stats["count"]
        self.last_stats = {"count": count, "avg_iou": stats["iou_sum"] / max(count, 1.0),
                           "recall50": stats["recall50"] / max(count, 1.0),
                           "recall75": stats["recall75"] / max(count, 1.0),
                           "rewritten": stats["rewritten"],
                           "darknet_cost": stats["darknet_cost"] / len(self.specs)}
        return total, {"box": box, "obj": obj, "cls": cls}

    @torch.no_grad()
    def deltas(self, outputs: Sequence[Tensor], targets: Tensor,
               input_hw: Tuple[int, int]) -> List[Tensor]:
        """Darknet's δ per layer (``Tensor[B, A, H, W, 5 + C]``, times ``delta_normalizer``):
        what Darknet's ``backward_yolo_layer`` adds into the conv below."""
        self._check(outputs)
        input_hw = (int(input_hw[0]), int(input_hw[1]))
        out = []
        for z, spec in zip(outputs, self.specs):
            truths = prepare_truths(targets, z.shape[0], input_hw, spec.classes, spec.max_boxes,
                                    device=z.device)
            res = layer_deltas(z.float(), spec, truths, input_hw)
            out.append(spec.delta_normalizer * res.delta)
        return out

    def adversarial(self, outputs: Sequence[Tensor], input_hw: Tuple[int, int]) -> Tensor:
        """The self-adversarial pass's surrogate (``adversarial_lr``; DARKNET_SEMANTICS §4.7).

        Returns a scalar whose gradient w.r.t. each raw output is ``−δ_adv`` (Darknet's deltas
        with all-zero truths). Engine use, on the mini-batch ``x`` (requires_grad), with the
        network in a mode that keeps BN fixed and without accumulating weight gradients::

            loss.adversarial(net(x), x.shape[-2:]).backward()
            x_adv = (x - lr_adv * x.grad).clamp(0, 1)   # Darknet: x + lr_adv · δ_input

        Its value is ``Σ −δ·z`` (only the gradient is meaningful).
        """
        self._check(outputs)
        input_hw = (int(input_hw[0]), int(input_hw[1]))
        dev = outputs[0].device
        with torch.autocast(device_type=dev.type, enabled=False):
            total = torch.zeros((), device=dev)
            for z, spec in zip(outputs, self.specs):
                z32 = z.float()
                d = adversarial_deltas(z32.detach(), spec, input_hw)
                total = total - spec.delta_normalizer * (d * z32).sum()
        return total
