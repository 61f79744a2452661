"""Ablation plans: ``PLAN.yaml`` maps a row name to the overrides of that row::

    baseline: {}                 # the first row is the baseline (or a row named "baseline")
    no-mosaic: {mosaic: 0}
    giou: {iou_loss: giou, iou_normalizer: 0.07}
    sam: {sam: true}             # a zoo model's builder switch (yolov4.list_models options)
    evolved: {hyp: best_hyp.yaml}  # a hyp file, relative to the plan file
    fitted: {anchors: fit}       # anchors fitted to the training boxes (k-means)

A value is a hyperparameter of hyp.yaml, a builder option of the zoo model, ``hyp`` or
``anchors: fit``. Row overrides win over the run's own (and over the row's hyp file).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..engine.config import read_yaml
from ..errors import YoloError


@dataclass
class Row:
    """One ablation row, split into what each part of training takes."""

    name: str
    overrides: Dict[str, Any] = field(default_factory=dict)
    model_kwargs: Dict[str, Any] = field(default_factory=dict)
    hyp: Optional[str] = None
    fit_anchors: bool = False


def _model_options(model: str) -> List[str]:
    from ..models import list_models, model_options
    if model in list_models():
        return [k for k in model_options(model) if k not in ("classes", "width", "height",
                                                             "net", "anchors", "masks")]
    return []


def split_rows(plan: Mapping[Any, Any], model: str, where: str,
               base_dir: Optional[Path] = None) -> List[Row]:
    """Validate a plan mapping and split each row's keys into :class:`Row` parts.

    Raises :class:`YoloError` naming ``where`` (the plan file) and the bad row or key."""
    from ..engine.config import default_hyp
    if not isinstance(plan, Mapping) or not plan:
        raise YoloError(f"{where}: a plan is a non-empty mapping of row name -> overrides")
    hyp_keys = list(default_hyp())
    options = _model_options(model)
    rows: List[Row] = []
    for name, values in plan.items():
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise YoloError(f"{where}: row '{name}': expected a mapping of overrides, got "
                            f"{type(values).__name__} ({values!r})")
        row = Row(str(name))
        for key, value in values.items():
            key = str(key)
            if key == "hyp":
                path = Path(str(value))
                if base_dir is not None and not path.is_absolute():
                    path = base_dir / path
                if not path.exists():
                    raise YoloError(f"{where}: row '{name}': hyp file {path} not found")
                row.hyp = str(path)
            elif key == "anchors" and value == "fit":
                row.fit_anchors = True
            elif key in hyp_keys:
                row.overrides[key] = value
            elif key in options:
                row.model_kwargs[key] = value
            else:
                close = difflib.get_close_matches(key, hyp_keys + options + ["hyp"], n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                extra = (f"builder options of {model}: {', '.join(options)}" if options
                         else f"{model} is a .cfg: no builder options")
                raise YoloError(f"{where}: row '{name}': unknown key '{key}'{hint}; use a "
                                f"hyp.yaml key, hyp, anchors: fit, or a {extra}")
        rows.append(row)
    if len({r.name for r in rows}) != len(rows):
        raise YoloError(f"{where}: row names must be unique")
    return rows


def load_plan(plan: Any, model: str, ga_hyp: Optional[str] = None
              ) -> Tuple[List[Row], Dict[str, Tuple[float, Optional[float]]], str]:
    """``(rows, paper facts, source)`` of ``plan``: ``"paper"``, a YAML path or a mapping."""
    if isinstance(plan, str) and plan == "paper":
        from .paper import paper_plan
        mapping, facts = paper_plan(ga_hyp)
        return split_rows(mapping, model, "plan 'paper'"), facts, "paper"
    if isinstance(plan, Mapping):
        return split_rows(plan, model, "plan"), {}, "plan"
    path = Path(str(plan))
    data = read_yaml(path, f"{path}: plan file not found (or use the built-in plan 'paper')")
    return split_rows(data, model, str(path), path.parent), {}, str(path)


def baseline_name(rows: Sequence[Row]) -> str:
    """The row named ``baseline`` if any, else the first row."""
    names = [r.name for r in rows]
    return "baseline" if "baseline" in names else names[0]


__all__ = ["Row", "load_plan", "split_rows", "baseline_name"]
