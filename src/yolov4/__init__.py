"""YOLOv4 in PyTorch with Darknet parity.

Public API (imported lazily, so ``import yolov4`` stays cheap and has no side effects):

- :class:`Darknet`, :func:`create_model` — the layer graph and the model zoo
- :class:`Detector` — inference on images and videos
- :class:`Evaluator`, :func:`val` — COCO and Darknet metrics
- :func:`train` — the training engine
- :func:`evolve`, :func:`ablate` — hyperparameter search and ablation tables
- :func:`load_dataset` — Darknet, YOLO, COCO and VOC datasets
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Darknet": "yolov4.darknet.graph",
    "create_model": "yolov4.models",
    "list_models": "yolov4.models",
    "Detector": "yolov4.predict",
    "Evaluator": "yolov4.eval.evaluator",
    "val": "yolov4.eval.val",
    "train": "yolov4.engine.api",
    "evolve": "yolov4.tune.evolve",
    "ablate": "yolov4.tune.ablate",
    "load_dataset": "yolov4.data.formats",
    "YoloError": "yolov4.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yolov4' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
