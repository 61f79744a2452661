"""Hyperparameter search and ablation on top of the training engine.

- :func:`yolov4.tune.evolve.evolve` (``yolov4 evolve``): a genetic algorithm over the genes
  declared in ``yolov4/engine/hyp.yaml``;
- :func:`yolov4.tune.ablate.ablate` (``yolov4 ablate``): rows of overrides x seeds, a table of
  mean +- std and paired confidence intervals against the baseline row.

Both run their trials through the one runner :func:`yolov4.tune.trial.run_trial`. See
``docs/TUNING.md``. Importing this package imports nothing heavy.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"evolve": "yolov4.tune.evolve", "EvolveResult": "yolov4.tune.evolve",
         "ablate": "yolov4.tune.ablate", "AblateResult": "yolov4.tune.ablate"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yolov4.tune' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
