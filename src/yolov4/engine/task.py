"""What the training loop needs to know about a kind of model: its loss, its training loader,
its validation and how a validation is judged.

:class:`~yolov4.engine.trainer.Trainer` is one loop (Darknet updates, subdivisions, lr policy,
EMA, checkpoints with exact resume, CSV/plots) for every kind of model; a :class:`Task` supplies
the rest. :class:`DetectionTask` is the detector's (``[yolo]`` loss, augmented detection
batches with random training shapes, mAP); a classifier supplies its own with the same methods.

The contract:

- ``build_loss(net)`` returns ``loss(outputs, targets, input_hw) -> (total, parts)``: ``total``
  a 0-d tensor summed over the mini-batch's images (the trainer divides by the cfg ``batch``),
  ``parts`` floats summed over the images, with every key of ``loss_keys`` (others are logged
  too when ``extra_keys`` names them).
- ``train_loader(...)`` returns a ``DataLoader`` yielding ``(images Tensor[B, 3, H, W] in
  [0, 1], targets, paths)``; its ``batch_sampler`` has ``set_epoch(epoch)`` and draws order and
  augmentation from ``(seed, epoch, index)`` only (exact resume); its ``collate_fn``,
  ``num_workers``, ``worker_init_fn`` and ``multiprocessing_context`` are reused by the trainer.
- ``evaluate(model, val_set, cfg, batch_size, device)`` returns metrics; ``fitness(metrics)``
  is the number ``best.pt`` is judged by; ``epoch_metrics`` the columns of ``results.csv``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch.utils.data import DataLoader

from ..darknet.yolo_settings import last_yolo_settings
from ..data.loader import RandomShapes, train_loader
from ..data.transforms.pipeline import AugmentConfig
from ..loss import YoloLoss
from .validate import evaluate, fitness, settings_note

LossFn = Callable[[Any, Any, Tuple[int, int]], Tuple[torch.Tensor, Dict[str, float]]]


class Task:
    """Base of the tasks; see the module docstring for the contract."""

    name = "task"
    loss_keys: Tuple[str, ...] = ()
    extra_keys: Tuple[str, ...] = ()      # logged per iteration, not averaged per epoch
    metric_keys: Tuple[str, ...] = ()
    adversarial = False                   # self-adversarial training (needs build_loss(...).adversarial)

    def build_loss(self, net: torch.nn.Module) -> LossFn:
        raise NotImplementedError

    def train_loader(self, net: Any, train_set: Any, cfg: Mapping[str, Any], *, mini: int,
                     subdivisions: int, max_batches: int) -> DataLoader:
        raise NotImplementedError

    def evaluate(self, model: torch.nn.Module, val_set: Any, cfg: Mapping[str, Any], *,
                 batch_size: int, device: torch.device) -> Dict[str, float]:
        raise NotImplementedError

    def fitness(self, metrics: Mapping[str, float]) -> float:
        raise NotImplementedError

    def epoch_metrics(self, metrics: Mapping[str, float]) -> Dict[str, float]:
        raise NotImplementedError

    def describe(self, metrics: Mapping[str, float]) -> str:
        return "  ".join(f"{k} {v:.4f}" for k, v in self.epoch_metrics(metrics).items())

    def settings_note(self, cfg: Mapping[str, Any], sections: Sequence[Any]) -> Optional[str]:
        return None


class _DetectionLoss:
    """:class:`YoloLoss` with the parts as floats and Darknet's printed cost among them."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.yolo = YoloLoss(net)
        self.adversarial = self.yolo.adversarial

    def __call__(self, outputs: Any, targets: torch.Tensor,
                 input_hw: Tuple[int, int]) -> Tuple[torch.Tensor, Dict[str, float]]:
        total, parts = self.yolo(outputs, targets, input_hw)
        out = {k: float(parts[k]) for k in ("box", "obj", "cls")}
        out["darknet_loss"] = float(self.yolo.last_stats["darknet_cost"])
        return total, out


class DetectionTask(Task):
    """``[yolo]`` models: YOLO loss, Darknet's augmentation and random shapes, mAP."""

    name = "detect"
    loss_keys = ("box", "obj", "cls")
    extra_keys = ("darknet_loss",)
    metric_keys = ("mAP50", "AP")
    adversarial = True

    def build_loss(self, net: torch.nn.Module) -> LossFn:
        return _DetectionLoss(net)

    def train_loader(self, net: Any, train_set: Any, cfg: Mapping[str, Any], *, mini: int,
                     subdivisions: int, max_batches: int) -> DataLoader:
        last = last_yolo_settings(net.sections)
        rand = last.random if last is not None else 0.0
        shapes: Any = (net.height, net.width)
        if rand > 0:
            shapes = RandomShapes(shapes, rule="darknet", random=rand, every=10 * subdivisions,
                                  step=cfg["resize_step"] or 32, seed=cfg["seed"],
                                  total_batches=max_batches * subdivisions)
        return train_loader(train_set, AugmentConfig.from_cfg(net.sections), batch_size=mini,
                            shapes=shapes, seed=cfg["seed"], workers=cfg["workers"],
                            drop_last=True, sampling=cfg["sampling"])

    def evaluate(self, model: torch.nn.Module, val_set: Any, cfg: Mapping[str, Any], *,
                 batch_size: int, device: torch.device) -> Dict[str, float]:
        return evaluate(model, val_set, size=(model.height, model.width),
                        letterbox=bool(cfg["letter_box"]), conf_thresh=cfg["conf_thresh"],
                        nms_thresh=cfg["nms_thresh"], batch_size=batch_size,
                        max_images=cfg["max_val_images"], device=device)

    def fitness(self, metrics: Mapping[str, float]) -> float:
        return fitness(dict(metrics))

    def epoch_metrics(self, metrics: Mapping[str, float]) -> Dict[str, float]:
        return {"mAP50": round(self.fitness(metrics), 5),
                "AP": round(float(metrics.get("coco.AP", 0.0)), 5)}

    def describe(self, metrics: Mapping[str, float]) -> str:
        row = self.epoch_metrics(metrics)
        return f"mAP@0.5 {row['mAP50']:.4f}  AP@[.5:.95] {row['AP']:.4f}"

    def settings_note(self, cfg: Mapping[str, Any], sections: Sequence[Any]) -> Optional[str]:
        return settings_note(dict(cfg), sections)


__all__ = ["Task", "DetectionTask", "LossFn"]
