"""What evolve and ablate share around the trial runner: the run's fixed training settings
(:class:`Setup`), saved next to the records so ``resume=DIR`` needs nothing else, and the
trial specs built from them."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import yaml

from ..atomic import atomic_write_text
from ..engine.config import read_yaml
from ..errors import YoloError
from .trial import DEFAULT_FITNESS, TrialSpec, parse_fitness

PathLike = Union[str, "os.PathLike[str]"]
DEFAULT_MODEL = "yolov4-tiny"


@dataclass
class Setup:
    """The training every trial of a search starts from (trial overrides go on top)."""

    data: Any
    model: str = DEFAULT_MODEL
    weights: Optional[str] = None
    partial: Optional[int] = None
    hyp: Optional[str] = None
    model_kwargs: Dict[str, Any] = field(default_factory=dict)
    overrides: Dict[str, Any] = field(default_factory=dict)
    fitness: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FITNESS))

    def spec(self, name: str, out_dir: PathLike, overrides: Optional[Mapping[str, Any]] = None,
             model_kwargs: Optional[Mapping[str, Any]] = None, hyp: Optional[str] = None
             ) -> TrialSpec:
        """A trial: the setup with ``overrides``/``model_kwargs`` on top (``hyp`` replaces)."""
        return TrialSpec(name=name, out_dir=str(out_dir), data=self.data, model=self.model,
                         overrides={**self.overrides, **dict(overrides or {})},
                         model_kwargs={**self.model_kwargs, **dict(model_kwargs or {})},
                         weights=self.weights, partial=self.partial,
                         hyp=hyp if hyp is not None else self.hyp, fitness=dict(self.fitness))

    @property
    def seed(self) -> int:
        """The training seed (hyp.yaml's ``seed``, 0 unless overridden)."""
        return int(self.overrides.get("seed") or 0)


def make_setup(data: Any, model: Optional[PathLike], *, weights: Optional[PathLike],
               partial: Optional[int], hyp: Optional[PathLike],
               model_kwargs: Optional[Mapping[str, Any]], iterations: Optional[int],
               fitness: Any, overrides: Mapping[str, Any]) -> Setup:
    """A fresh run's :class:`Setup` (``iterations`` sets ``max_batches``); checks the keys."""
    from ..engine.config import default_hyp
    if data is None:
        raise YoloError("data= is required (or resume=DIR)")
    overrides = {k: v for k, v in dict(overrides).items() if v is not None}
    known = set(default_hyp()) | {"size"}
    bad = sorted(k for k in overrides if k not in known)
    if bad:
        raise YoloError(f"unknown hyperparameter(s) {', '.join(bad)}; see yolov4/engine/hyp.yaml")
    if iterations is not None:
        if int(iterations) < 1:
            raise YoloError(f"iterations must be >= 1, got {iterations}")
        overrides["max_batches"] = int(iterations)
        overrides.pop("epochs", None)
    keep = isinstance(data, (str, Path))
    return Setup(data=str(data) if keep else data, model=str(model or DEFAULT_MODEL),
                 weights=str(weights) if weights else None, partial=partial,
                 hyp=str(hyp) if hyp else None, model_kwargs=dict(model_kwargs or {}),
                 overrides=overrides, fitness=parse_fitness(fitness))


def save_settings(path: Path, setup: Setup, extra: Mapping[str, Any]) -> None:
    """Write the run's settings YAML (atomically; in-memory data is stored as null)."""
    body = asdict(setup)
    if not isinstance(setup.data, str):
        body["data"] = None
    body.update(extra)
    atomic_write_text(path, yaml.safe_dump(body, sort_keys=False))


def load_settings(path: Path, data: Any = None) -> tuple:
    """``(Setup, extra settings)`` from a settings YAML; ``data`` replaces a stored null."""
    body = read_yaml(path, f"{path.parent}: nothing to resume ({path.name} not found)") or {}
    names = set(Setup.__dataclass_fields__)
    setup = Setup(**{k: v for k, v in body.items() if k in names})
    if data is not None:
        setup.data = data
    if setup.data is None:
        raise YoloError(f"{path}: the run used in-memory datasets; pass data= to resume")
    return setup, {k: v for k, v in body.items() if k not in names}


def resume_run(resume: PathLike, settings: str, data: Any = None, **given: Any) -> tuple:
    """``(run directory, Setup, extra settings)`` of a run to resume: refuses any setting in
    ``given`` (:func:`check_resume_args`) and reads ``settings`` (e.g. ``evolve.yaml``) there."""
    check_resume_args(resume, **given)
    out = Path(resume)
    setup, extra = load_settings(out / settings, data)
    return out, setup, extra


def check_resume_args(resume: PathLike, **given: Any) -> None:
    """With ``resume=``, the run's settings come from its directory: refuse others."""
    bad = sorted(k for k, v in given.items() if v not in (None, {}, False))
    if bad:
        raise YoloError(f"{resume}: cannot change {', '.join(bad)} when resuming (the settings "
                        f"come from the run directory)")


__all__ = ["Setup", "make_setup", "save_settings", "load_settings", "check_resume_args"]
