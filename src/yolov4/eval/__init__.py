"""Evaluation: COCO metrics (pycocotools-identical) and Darknet ``detector map`` metrics.

``Evaluator`` (in-memory, used by training and ``val``), ``val``/``val_run`` (``yolov4 val``),
COCO conversion (:mod:`.coco`), Darknet metrics (:mod:`.darknet_map`), results JSON
(:mod:`.results`), confusion matrix and plots. Imported lazily.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"Evaluator": "evaluator", "val": "val", "val_run": "val", "ValResult": "val"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yolov4.eval' has no attribute '{name}'")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
