"""``ClassificationTask``: what the one training loop needs to train a Darknet classifier.

- loss: :class:`yolov4.loss.classify.ClassifierLoss` (``[softmax]`` + smoothed cross-entropy,
  Darknet's gradient);
- loader: :func:`yolov4.data.classify_loader.classify_loader` with the ``[net]`` augmentation
  keys (``min_crop``, ``max_crop``, ``angle``, ``aspect``, ``flip``, ``hue``, ``saturation``,
  ``exposure``, ``blur``, ``mixup``/``cutmix``/``mosaic``, ``label_smooth_eps``);
- validation: top-1 / top-5 on centre crops (:mod:`yolov4.eval.classify`); ``best.pt`` is
  judged by top-1.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

import torch
from torch.utils.data import DataLoader

from ..data.classify_loader import classify_loader
from ..data.transforms.classify import ClassAug
from ..loss.classify import ClassifierLoss
from .task import LossFn, Task


class ClassificationTask(Task):
    """Darknet classifiers (cfg ending with ``[softmax]``, optionally ``[cost]``)."""

    name = "classify"
    loss_keys = ("cls",)
    extra_keys = ("darknet_loss",)
    metric_keys = ("top1", "top5")
    adversarial = False

    def __init__(self, top_k: int = 5) -> None:
        self.top_k = int(top_k)
        self.last_metrics: Any = None

    def build_loss(self, net: torch.nn.Module) -> LossFn:
        return ClassifierLoss(net)

    def train_loader(self, net: Any, train_set: Any, cfg: Mapping[str, Any], *, mini: int,
                     subdivisions: int, max_batches: int) -> DataLoader:
        aug = ClassAug.from_net(net.sections[0])
        return classify_loader(train_set, aug, batch_size=mini, seed=cfg["seed"],
                               workers=cfg["workers"], drop_last=True,
                               sampling=cfg["sampling"])

    def evaluate(self, model: torch.nn.Module, val_set: Any, cfg: Mapping[str, Any], *,
                 batch_size: int, device: torch.device) -> Dict[str, float]:
        from ..eval.classify import evaluate_classifier
        metrics = evaluate_classifier(model, val_set, size=(model.height, model.width),
                                      batch_size=batch_size, k=self.top_k,
                                      max_images=cfg["max_val_images"], device=device)
        self.last_metrics = metrics
        return metrics.summarize()

    def fitness(self, metrics: Mapping[str, float]) -> float:
        return float(metrics.get("top1", 0.0))

    def epoch_metrics(self, metrics: Mapping[str, float]) -> Dict[str, float]:
        return {"top1": round(float(metrics.get("top1", 0.0)), 5),
                "top5": round(float(metrics.get("top5", 0.0)), 5)}

    def describe(self, metrics: Mapping[str, float]) -> str:
        k = int(metrics.get("k", 5))
        return f"top-1 {metrics.get('top1', 0.0):.4f}  top-{k} {metrics.get('top5', 0.0):.4f}"

    def settings_note(self, cfg: Mapping[str, Any], sections: Sequence[Any]) -> Optional[str]:
        net = sections[0]
        return (f"validation: top-1/top-{self.top_k} on centre crops (shorter side resized to "
                f"{net.get_int('width', 256)}, as darknet classifier valid); "
                f"`yolov4 classify val` gives the same numbers")


__all__ = ["ClassificationTask"]
