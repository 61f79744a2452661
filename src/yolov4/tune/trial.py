"""The one trial runner shared by ``yolov4 evolve`` and ``yolov4 ablate``.

A trial is one ``yolov4.train(...)`` run with its own overrides in its own directory (wiped
first, so a trial cut short by an interrupted search starts again cleanly). Its outcome is a
status, the final validation metrics, a fitness and the wall time:

- ``ok``: training finished and the fitness metrics are finite;
- ``nan``: training stopped on non-finite losses/gradients (``nan_patience``), or a fitness
  metric is not finite;
- ``failed``: any other exception (message kept, traceback in ``error.txt``), or no
  validation metrics.

``nan`` and ``failed`` trials get fitness 0. Nothing here knows which search asked for the
trial. :class:`TrialPool` runs trials in this process (one device, the default on CPU) or one
worker process per device (``devices=["cuda:0", "cuda:1"]``); :func:`make_pool` picks it or the
Ray Tune executor (:mod:`yolov4.tune.ray_pool`, same interface).
"""
from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import re
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from ..errors import YoloError

#: yolov5's fitness: 0.1 x AP50 + 0.9 x AP@[.5:.95].
DEFAULT_FITNESS: Dict[str, float] = {"coco.AP50": 0.1, "coco.AP": 0.9}
#: Short names accepted in ``--fitness``.
METRIC_ALIASES = {"AP": "coco.AP", "AP50": "coco.AP50", "AP75": "coco.AP75",
                  "mAP50": "darknet.mAP50", "F1": "darknet.F1", "precision": "darknet.precision",
                  "recall": "darknet.recall"}
#: Summary metrics a trial records (per-class ones are left out of the CSV).
SUMMARY_METRICS = ("coco.AP", "coco.AP50", "coco.AP75", "coco.APs", "coco.APm", "coco.APl",
                   "coco.AR1", "coco.AR10", "coco.AR100", "coco.ARs", "coco.ARm", "coco.ARl",
                   "darknet.mAP50", "darknet.precision", "darknet.recall", "darknet.F1",
                   "darknet.avg_iou")
_NON_FINITE = re.compile(r"loss is [-+]?(nan|inf)|not finite", re.IGNORECASE)


def parse_fitness(spec: Any) -> Dict[str, float]:
    """Fitness weights from ``"AP50=0.1,AP=0.9"``, a mapping, or ``None`` (the default)."""
    if spec is None or spec == "":
        return dict(DEFAULT_FITNESS)
    if isinstance(spec, str):
        items: Dict[str, Any] = {}
        for part in spec.split(","):
            if "=" not in part:
                raise YoloError(f"fitness '{spec}': expected metric=weight[,metric=weight...]")
            k, v = part.split("=", 1)
            items[k.strip()] = v.strip()
        spec = items
    out: Dict[str, float] = {}
    for key, weight in dict(spec).items():
        name = METRIC_ALIASES.get(key, key)
        if name not in SUMMARY_METRICS:
            raise YoloError(f"fitness: unknown metric '{key}' (known: "
                            f"{', '.join(list(METRIC_ALIASES) + list(SUMMARY_METRICS))})")
        try:
            out[name] = float(weight)
        except (TypeError, ValueError):
            raise YoloError(f"fitness: weight of '{key}' is not a number: {weight!r}") from None
    if not out:
        raise YoloError("fitness: no metric given")
    return out


def fitness_of(metrics: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """``sum(weight * metric)``; NaN when a weighted metric is missing or not finite."""
    total = 0.0
    for name, w in weights.items():
        v = metrics.get(name)
        if v is None or not math.isfinite(float(v)):
            return float("nan")
        total += w * float(v)
    return total


@dataclass
class TrialSpec:
    """Everything one training run needs (picklable when ``data`` is a path)."""

    name: str
    out_dir: str
    data: Any
    model: Any
    overrides: Dict[str, Any] = field(default_factory=dict)
    model_kwargs: Dict[str, Any] = field(default_factory=dict)
    weights: Optional[str] = None
    partial: Optional[int] = None
    hyp: Optional[str] = None
    fitness: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FITNESS))


@dataclass
class TrialOutcome:
    """What a trial produced: ``status`` ok|nan|failed, ``fitness`` (0 unless ok)."""

    name: str
    status: str
    fitness: float
    metrics: Dict[str, float]
    seconds: float
    out_dir: str
    error: str = ""
    weights: Optional[str] = None     # best.pt (else last.pt) of the run, when it exists


TrainFn = Callable[..., Any]


def run_trial(spec: TrialSpec, train_fn: Optional[TrainFn] = None,
              device: Optional[str] = None) -> TrialOutcome:
    """Run one training (``train_fn``, default :func:`yolov4.train`) and classify it."""
    if train_fn is None:
        from ..engine.api import train as train_fn
    out = Path(spec.out_dir)
    if out.exists():
        shutil.rmtree(out)          # a trial cut short earlier starts again from nothing
    out.mkdir(parents=True)
    overrides = dict(spec.overrides)
    if device is not None:
        overrides["device"] = device
    start = time.time()
    metrics: Dict[str, float] = {}
    status, error, weights = "ok", "", None
    with open(out / "train.log", "w", encoding="utf-8") as logf:
        def log(line: str) -> None:
            logf.write(str(line) + "\n")
            logf.flush()
        try:
            result = train_fn(data=spec.data, model=spec.model, weights=spec.weights,
                              partial=spec.partial, hyp=spec.hyp, out=str(out / "run"),
                              model_kwargs=dict(spec.model_kwargs), verbose=False, log=log,
                              **overrides)
            metrics = {k: float(v) for k, v in (result.metrics or {}).items()
                       if k in SUMMARY_METRICS}
            for cand in (getattr(result, "best", None), getattr(result, "last", None)):
                if cand is not None and Path(cand).exists():
                    weights = str(cand)
                    break
            if not metrics:
                status, error = "failed", "no validation metrics (does the data have a val split?)"
        except Exception as err:  # noqa: BLE001 - a trial never stops the search
            status = "nan" if _NON_FINITE.search(str(err)) else "failed"
            error = f"{type(err).__name__}: {err}"
            (out / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    fit = fitness_of(metrics, spec.fitness) if status == "ok" else 0.0
    if status == "ok" and not math.isfinite(fit):
        status, error, fit = "nan", "a fitness metric is not finite", 0.0
    return TrialOutcome(spec.name, status, fit, metrics, round(time.time() - start, 3),
                        str(out), error.splitlines()[0][:300] if error else "", weights)


class TrialPool:
    """Runs trials: in this process (``devices`` None or one device), or in one spawned worker
    process per device, each new trial on a device that is free (:meth:`run`)."""

    def __init__(self, devices: Optional[Sequence[str]] = None,
                 train_fn: Optional[TrainFn] = None) -> None:
        self.devices: List[Optional[str]] = list(devices) if devices else [None]
        self.train_fn = train_fn

    def run(self, propose: Callable[[], Optional[TrialSpec]],
            on_done: Callable[[TrialOutcome], None]) -> None:
        """Call ``propose()`` whenever a device is free (``None``: no more trials) and
        ``on_done(outcome)`` in this process as each trial ends, until nothing runs."""
        free = list(self.devices)
        if len(free) == 1:                     # sequential, in this process
            while True:
                spec = propose()
                if spec is None:
                    return
                on_done(run_trial(spec, self.train_fn, free[0]))
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=len(free), mp_context=ctx) as pool:
            running: Dict[Any, Optional[str]] = {}
            while True:
                while free:
                    spec = propose()
                    if spec is None:
                        break
                    device = free.pop(0)
                    running[pool.submit(run_trial, spec, self.train_fn, device)] = device
                if not running:
                    return
                done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    free.append(running.pop(fut))
                    on_done(fut.result())


def make_pool(run_dir: Any, devices: Any = None, ray: Any = None, ray_cpus: float = 1,
              ray_gpus: float = 0, ray_parallel: Optional[int] = None,
              train_fn: Optional[TrainFn] = None, batches: bool = True) -> Any:
    """The executor of a search: :class:`TrialPool` (``devices``), or with ``ray`` (``True``,
    ``""`` or an address) a :class:`~yolov4.tune.ray_pool.RayPool` (proposals in ``batches``:
    for a search whose proposals read the records); both have ``run(propose, on_done)``. Ray
    is imported only when it is used."""
    if ray is None or ray is False:
        if ray_parallel is not None:
            raise YoloError("ray_parallel (--ray-parallel) is for --ray; --devices sets the "
                            "parallel trials of a local search")
        return TrialPool(parse_devices(devices), train_fn)
    if parse_devices(devices):
        raise YoloError("--devices and --ray exclude each other: with Ray, --ray-gpus gives each "
                        "trial its GPUs")
    from .ray_pool import RayPool, ray_address
    return RayPool(run_dir, ray_address(ray), ray_cpus, ray_gpus, ray_parallel, train_fn,
                   batches)


def parse_devices(text: Any) -> Optional[List[str]]:
    """``"0,1"`` -> ``["cuda:0", "cuda:1"]``; ``"cpu,cpu"`` -> two CPU workers; None -> None."""
    if text is None or text == "":
        return None
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    out = []
    for item in items:
        item = str(item).strip()
        out.append(f"cuda:{item}" if item.isdigit() else item)
    return out


__all__ = ["TrialSpec", "TrialOutcome", "TrialPool", "make_pool", "run_trial", "parse_fitness",
           "fitness_of", "parse_devices", "DEFAULT_FITNESS", "SUMMARY_METRICS"]
