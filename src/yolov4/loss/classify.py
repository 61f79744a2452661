"""``ClassifierLoss``: Darknet's classifier loss, ``[softmax]`` (+ optional ``[cost]``) with soft truths.

Darknet (``src/softmax_layer.c: forward_softmax_layer``, ``src/blas.c: softmax_x_ent_cpu``,
``src/cost_layer.c``, ``src/network.c: get_network_cost``):

- the truth of an image is a vector over the classes, label smoothing and mixing already
  applied by the loader (``src/data.c: fill_truth_smooth``: ``1 − ε`` on the class of the path,
  ``ε/(k − 1)`` on the others; MixUp/CutMix/Mosaic: area-weighted sums of such vectors);
- ``[softmax]`` writes ``δ = t − p`` (and ``error = −log p`` where ``t ≠ 0``, else 0);
  ``backward_softmax_layer`` passes δ unchanged to the layer before (no Jacobian, no
  ``1/temperature``);
- a ``[cost] type=sse`` after it adds ``scale·(t − p)`` to that delta (``l2_cpu``), error
  ``(t − p)²``;
- the printed cost is the mean over the layers that have a cost of their summed errors.

Here the ``[softmax]`` module passes its gradient straight through in training
(:class:`yolov4.layers.softmax.Softmax`), and ``total`` is built as in :class:`YoloLoss`:

    total = value.detach() + (S − S.detach()),   S = −Σ (δ · p)

so ``total.backward()`` gives the softmax *input* the gradient ``−δ`` (Darknet's update
direction), while the value of ``total`` is the soft-target cross-entropy ``−Σ t·log p``
(``parts["cls"]``, decreasing as the model learns). ``parts["darknet_loss"]`` is Darknet's
printed cost (with its ``−log p`` summed over every non-zero truth entry, so with smoothing it
is not the cross-entropy). Everything is summed over the mini-batch; the trainer divides by the
cfg ``batch``.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import torch
from torch import Tensor

from ..errors import YoloError

#: Smallest probability used inside a logarithm (a logged value; gradients do not use it).
_TINY = 1e-30


def output_layers(net: Any) -> Tuple[int, float]:
    """``(index of the final [softmax], [cost] scale or 0)`` of a classifier graph.

    Raises:
        YoloError: the cfg does not end with ``[softmax]`` (optionally followed by ``[cost]``).
    """
    types = [sp.type for sp in net.specs]
    last = len(types) - 1
    scale = 0.0
    if types and types[last] == "cost":
        scale = float(net.specs[last].params["scale"])
        last -= 1
    if last < 0 or types[last] != "softmax":
        found = ", ".join(f"[{t}]" for t in types[-2:]) or "no layers"
        raise YoloError(f"a classifier cfg must end with [softmax] (optionally followed by "
                        f"[cost]), as Darknet's classifiers do; this one ends with {found}")
    return last, scale


def smooth_truth(label: int, classes: int, eps: float = 0.0) -> Tensor:
    """Darknet's ``fill_truth_smooth``: ``Tensor[classes]`` with ``1 − eps`` at ``label`` and
    ``eps/(classes − 1)`` elsewhere (one class: ``[1 − eps]``)."""
    if not 0 <= label < classes:
        raise YoloError(f"label {label} is outside 0..{classes - 1}")
    off = eps / (classes - 1) if classes > 1 else 0.0
    t = torch.full((classes,), float(off))
    t[label] = 1.0 - eps
    return t


class ClassifierLoss:
    """``loss(outputs, targets, input_hw) -> (total, parts)`` for a classifier ``Darknet``.

    Args (call):
        outputs: ``[Tensor[B, C, H, W]]``, the network's output (the softmax probabilities).
        targets: ``Tensor[B, C·H·W]`` truth vectors (each sums to 1).
        input_hw: unused (kept for the trainer's loss signature).

    Returns:
        ``total``: 0-d tensor summed over the B images; ``parts``: ``{"cls": soft-target
        cross-entropy, "darknet_loss": Darknet's printed cost}`` summed over the images.
    """

    def __init__(self, net: Any) -> None:
        self.softmax_index, self.cost_scale = output_layers(net)
        self.has_cost = net.specs[-1].type == "cost"

    def deltas(self, probs: Tensor, truth: Tensor) -> Tensor:
        """Darknet's delta on the softmax input: ``(t − p)·(1 + scale)`` with a ``[cost]``."""
        delta = truth - probs
        if self.has_cost:
            delta = delta * (1.0 + self.cost_scale)
        return delta

    def __call__(self, outputs: Sequence[Tensor], targets: Tensor,
                 input_hw: Any = None) -> Tuple[Tensor, Dict[str, float]]:
        out = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        probs = out.float().reshape(out.shape[0], -1)
        truth = targets.to(probs.device, torch.float32).reshape(probs.shape[0], -1)
        if truth.shape != probs.shape:
            raise YoloError(f"classifier truth has {truth.shape[1]} entries per image, the "
                            f"network outputs {probs.shape[1]}: the dataset's class count does "
                            f"not match the last conv's filters")
        with torch.no_grad():
            p = probs.detach()
            delta = self.deltas(p, truth)
            logp = p.clamp_min(_TINY).log()
            ce = -(truth * logp).sum()
            darknet = -(logp * (truth != 0)).sum()             # softmax_x_ent_cpu's error
            if self.has_cost:                                  # get_network_cost: mean of layers
                darknet = (darknet + ((truth - p) ** 2).sum()) / 2
        surrogate = -(delta * probs).sum()
        total = ce + (surrogate - surrogate.detach())
        return total, {"cls": float(ce), "darknet_loss": float(darknet)}


__all__ = ["ClassifierLoss", "output_layers", "smooth_truth"]
