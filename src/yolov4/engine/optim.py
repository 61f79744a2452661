"""The optimiser as Darknet updates weights: SGD with momentum, decay on conv weights only, per-layer lr.

Darknet's rule (``src/convolutional_kernels.cu: update_convolutional_layer_gpu``), with ``B`` the
cfg ``batch`` (all subdivisions) and ``U`` the accumulated *negative* gradient of the loss summed
over the batch::

    U_w += -decay * B * W          # conv weights only (not biases, not BN scales)
    W   += lr * lr_scale / B * U
    U   *= momentum

Writing ``g = -U_new / B`` (the gradient of the loss summed over the batch and divided by ``B``)
this is exactly ``torch.optim.SGD(momentum=m, dampening=0, weight_decay=decay)`` on conv weights
and the same without weight decay on everything else: the trainer sums the loss over each
mini-batch, divides it by ``B`` and accumulates the gradients of the ``subdivisions`` passes
before one ``step()``.

Adam (``adam=1`` with ``B1``, ``B2``, ``eps``): Darknet feeds the summed gradient plus
``decay * B * W`` to Adam. Adam is invariant to the gradient's scale except for ``eps``, so this
equals ``torch.optim.Adam(weight_decay=decay, eps=eps / B)`` on the gradient divided by ``B``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import nn

from ..errors import YoloError

# Modules whose ``weight`` Darknet decays (convolutional and connected layers).
_DECAYED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


def module_lr_scales(model: nn.Module) -> Dict[str, float]:
    """Per-module lr scale from Darknet's per-layer ``learning_rate=`` key.

    Reads a ``Darknet`` graph's per-layer sections (``net.specs[i].section``, module
    ``layers.i``), modules carrying the ``Section`` they were built from (``module.section``) with
    a ``learning_rate`` option, or an explicit float attribute ``lr_scale``. Returns
    ``{module_name: scale}`` for the modules that set one (children inherit it).
    """
    scales: Dict[str, float] = {}
    specs, layers = getattr(model, "specs", None), getattr(model, "layers", None)
    if specs is not None and layers is not None:   # a Darknet graph: layers[i] <- specs[i].section
        prefix = next((n for n, m in model.named_modules() if m is layers), "layers")
        for i, spec in enumerate(specs):
            section = getattr(spec, "section", None)
            if section is not None and section.has("learning_rate"):
                scale = section.get_float("learning_rate")
                if scale != 1.0:
                    scales[f"{prefix}.{i}"] = scale
    for name, module in model.named_modules():
        scale = getattr(module, "lr_scale", None)
        section = getattr(module, "section", None)
        if scale is None and section is not None and hasattr(section, "has"):
            try:
                if section.has("learning_rate") and section.type not in ("net", "network"):
                    scale = section.get_float("learning_rate")
            except Exception:  # a malformed value is the cfg reader's business, not ours
                scale = None
        if scale is not None and float(scale) != 1.0:
            scales[name] = float(scale)
    return scales


def _scale_for(param_name: str, scales: Mapping[str, float]) -> float:
    """The lr scale of the deepest module prefix of ``param_name`` that sets one."""
    best, best_len = 1.0, -1
    for prefix, scale in scales.items():
        if prefix == "" or param_name.startswith(prefix + "."):
            if len(prefix) > best_len:
                best, best_len = scale, len(prefix)
    return best


def param_groups(
    model: nn.Module,
    decay: float,
    lr_scales: Optional[Mapping[str, float]] = None,
) -> List[Dict[str, Any]]:
    """Split trainable parameters into groups keyed by (decayed?, lr_scale).

    Conv/linear ``weight`` tensors get ``weight_decay=decay``; biases, BN scales/shifts and
    any other parameter get 0. Each group carries ``lr_scale`` (used by ``apply_lr``) and a
    ``name`` for logs. Frozen parameters (``requires_grad=False``) are left out.
    """
    if lr_scales is None:
        lr_scales = module_lr_scales(model)
    decayed_ids = set()
    for module in model.modules():
        if isinstance(module, _DECAYED) and getattr(module, "weight", None) is not None:
            decayed_ids.add(id(module.weight))
    groups: Dict[tuple, Dict[str, Any]] = {}
    seen = set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        is_decayed = id(param) in decayed_ids
        scale = _scale_for(name, lr_scales)
        key = (is_decayed, scale)
        if key not in groups:
            groups[key] = {
                "params": [],
                "weight_decay": decay if is_decayed else 0.0,
                "lr_scale": scale,
                "name": ("conv_weights" if is_decayed else "no_decay")
                + ("" if scale == 1.0 else f"@lr_scale={scale:g}"),
            }
        groups[key]["params"].append(param)
    if not groups:
        raise YoloError("the model has no trainable parameters (all frozen?)")
    return list(groups.values())


def build_optimizer(model: nn.Module, hyp: Mapping[str, Any]) -> torch.optim.Optimizer:
    """SGD (Darknet default) or Adam (``adam=1``) over :func:`param_groups`.

    Keys (Darknet names): ``learning_rate``, ``momentum`` (.9), ``decay`` (.0001), ``batch``
    (the cfg batch, for Adam's eps), ``adam`` (0), ``B1`` (.9), ``B2`` (.999), ``eps`` (1e-6).
    The group lr is set every iteration by the lr policy; the initial value here is nominal.
    """
    lr = float(hyp.get("learning_rate", 0.001))
    decay = float(hyp.get("decay", 0.0001))
    groups = param_groups(model, decay)
    for g in groups:
        g["lr"] = lr * g["lr_scale"]
    if int(hyp.get("adam", 0)):
        batch = max(1, int(hyp.get("batch", 1)))
        return torch.optim.Adam(
            groups,
            lr=lr,
            betas=(float(hyp.get("B1", 0.9)), float(hyp.get("B2", 0.999))),
            eps=float(hyp.get("eps", 0.000001)) / batch,
        )
    momentum = float(hyp.get("momentum", 0.9))
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, dampening=0.0, nesterov=False)


def zero_nonfinite_grads(model: nn.Module) -> int:
    """Darknet replaces NaN weight updates by 0 before the step; returns how many were replaced."""
    count = 0
    for p in model.parameters():
        if p.grad is not None:
            bad = ~torch.isfinite(p.grad)
            n = int(bad.sum())
            if n:
                p.grad[bad] = 0.0
                count += n
    return count



def count_nonfinite_grads(model: nn.Module) -> int:
    """How many gradient values are NaN or infinite (gradients untouched)."""
    return sum(int((~torch.isfinite(p.grad)).sum()) for p in model.parameters()
               if p.grad is not None)
