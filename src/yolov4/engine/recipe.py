"""The engine's levers of the default training recipe that Darknet has no key for.

``recipe=default`` (hyp.yaml's ``recipe_default`` block) turns them on; ``recipe=darknet`` leaves
every one off, so training is Darknet's exactly. Each is a pure function of the config and the
iteration, so a resumed run recomputes the same values:

- :func:`head_priors`: the bias of every *freshly initialised* conv feeding a ``[yolo]`` starts at
  ``logit(obj_prior)`` for objectness and ``logit(cls_prior)`` for the classes (Darknet starts
  all biases at 0, i.e. p = 0.5 for each of the ~thousands of anchors per image, whose
  objectness gradients then swamp everything else for the first hundreds of updates);
- :func:`freeze_mask`: for the first ``freeze_loaded`` updates only the layers that start from
  scratch learn, while the loaded ones hold still (new heads first settle on the pretrained
  features instead of pulling them around with random gradients);
- :func:`momentum_at`: during ``burn_in`` the momentum rises linearly from ``warmup_momentum``
  (early updates, whose gradients are the least informative, are averaged over fewer steps).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, List, Mapping, Optional, Set

import torch
from torch import nn


def logit(p: float) -> float:
    """``log(p / (1 - p))`` for ``0 < p < 1``."""
    return math.log(p / (1.0 - p))


def class_prior(value: Any, classes: int) -> float:
    """``cls_prior`` as a probability: ``auto`` is ``1 / classes``; 0 (or None) is off."""
    if value in (None, 0, 0.0, "0"):
        return 0.0
    if value == "auto":
        return 1.0 / max(classes, 2)
    return float(value)


@torch.no_grad()
def head_priors(net: nn.Module, obj_prior: float, cls_prior: Any = 0,
                fresh: Optional[Iterable[int]] = None) -> List[int]:
    """Set the biases of the convs feeding ``[yolo]`` layers to the priors; return their indices.

    Objectness bias ``logit(obj_prior)`` and class biases ``logit(class_prior(cls_prior, C))``
    (each only when > 0), in every anchor's ``5 + C`` block of the conv's bias (box biases stay
    0). ``fresh``: only heads whose conv is in it (the layers that were not loaded); None = all.
    """
    done = []
    keep: Optional[Set[int]] = None if fresh is None else set(fresh)
    for j in getattr(net, "yolo_indices", []):
        conv = getattr(net.layers[j - 1], "conv", None)
        yolo = net.layers[j]
        if conv is None or conv.bias is None or (keep is not None and j - 1 not in keep):
            continue
        bias = conv.bias.view(len(yolo.mask), -1)
        if obj_prior > 0:
            bias[:, 4] = logit(obj_prior)
        p_cls = class_prior(cls_prior, int(yolo.classes))
        if p_cls > 0:
            bias[:, 5:] = logit(p_cls)
        done.append(j - 1)
    return done



def apply_head_priors(net: nn.Module, cfg: Any) -> Optional[str]:
    """:func:`head_priors` with the run's ``obj_prior``/``cls_prior`` on its fresh heads;
    returns the line that says what was set (None when nothing was)."""
    obj_p, cls_p = cfg.obj_prior or 0.0, cfg.cls_prior or 0
    if not (obj_p > 0 or cls_p):
        return None
    heads = head_priors(net, obj_p, cls_p, cfg.fresh_layers)
    if not heads:
        return None
    pc = class_prior(cls_p, net.yolo_layers[0].classes)
    what = [f"objectness p={obj_p:g}" if obj_p > 0 else "", f"classes p={pc:g}" if pc > 0 else ""]
    return (f"bias priors of the new [yolo] convs (layers {', '.join(map(str, heads))}): "
            + ", ".join(w for w in what if w) + " (Darknet: 0, i.e. p=0.5)")

def freeze_mask(net: nn.Module, fresh: Optional[Iterable[int]]) -> List[torch.nn.Parameter]:
    """The parameters to hold still while ``freeze_loaded`` lasts: those of every layer that was
    loaded (not in ``fresh``). None or an empty ``fresh`` (all loaded or all new): nothing."""
    if not fresh:
        return []
    fresh = set(fresh)
    return [p for i, layer in enumerate(net.layers) if i not in fresh
            for p in layer.parameters()]


def momentum_at(cfg: Mapping[str, Any], k: int) -> float:
    """Momentum of update ``k`` (1-based): from ``warmup_momentum`` at k = 0 linearly to
    ``momentum`` at k = burn_in, then ``momentum`` (``warmup_momentum`` null = ``momentum``)."""
    burn = int(cfg.get("burn_in") or 0)
    momentum = float(cfg.get("momentum", 0.9))
    t = 1.0 if burn <= 0 else min(1.0, k / burn)
    wm = cfg.get("warmup_momentum")
    return momentum if wm is None else float(wm) + t * (momentum - float(wm))
