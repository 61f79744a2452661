"""``yolov4.ablate(...)`` / ``yolov4 ablate``: every plan row x seed is one trial of the shared
runner (:mod:`yolov4.tune.trial`); the result is a table of mean +- std and paired intervals
against the baseline row (:mod:`yolov4.tune.table`).

Files in ``out``: ``ablate.csv`` (one row per finished trial: row, seed, status, fitness,
seconds, metrics, error; appended atomically), ``ablate.yaml`` (settings and the resolved plan,
what ``resume=`` reads), ``ablate_table.md`` / ``ablate_table.csv`` and ``plots/ablate.png``.
``seeds`` is the total: resuming with more seeds runs only the missing trials.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from ..atomic import atomic_write_text
from ..errors import YoloError
from .plan import Row, baseline_name, load_plan
from .plots import plot_ablate
from .records import append_record, read_records, write_records
from .session import Setup, make_setup, resume_run, save_settings
from .table import build_table, to_markdown
from .trial import TrialOutcome, make_pool

PathLike = Union[str, "os.PathLike[str]"]
LEAD = ("row", "seed", "status", "fitness", "seconds")


@dataclass
class AblateResult:
    """The table (one dict per row, see :func:`yolov4.tune.table.build_table`) and its files."""

    out_dir: Path
    csv: Path
    markdown: Path
    table: List[Dict[str, Any]] = field(default_factory=list)
    records: List[Dict[str, Any]] = field(default_factory=list)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "row"


def fit_anchors(setup: Setup) -> List[List[float]]:
    """K-means anchors of the training boxes at the training size, as many as the model has
    (what ``yolov4 anchors`` computes), for the plan's ``anchors: fit``."""
    from ..data.anchors import box_sizes, kmeans_anchors
    from ..engine.api import _datasets, model_sections
    from ..models import list_models
    if setup.model not in list_models():
        raise YoloError(f"anchors: fit needs a zoo model (got {setup.model}); for a .cfg write "
                        f"fitted anchors with `yolov4 anchors DATA --cfg ... --write` instead")
    train_set, _ = _datasets(setup.data)
    sections = model_sections(setup.model, len(train_set.names), **setup.model_kwargs)
    size = setup.overrides.get("size")
    width = int(size or setup.overrides.get("width") or sections[0].get_int("width", 416))
    height = int(size or setup.overrides.get("height") or sections[0].get_int("height", 416))
    yolo = next(s for s in sections if s.type == "yolo")
    n = len(yolo.get_floats("anchors")) // 2
    anchors, _ = kmeans_anchors(box_sizes(train_set, width, height), n, seed=0)
    return [[round(float(w), 2), round(float(h), 2)] for w, h in anchors]


def _new_ablation(out: Path, setup: Setup, plan: Any, ga_hyp: Optional[PathLike],
                  log: Callable[[str], None]) -> tuple:
    """Load the plan (fitting anchors for its ``anchors: fit`` rows), write
    ``out/ablate.yaml``; ``(rows, paper facts, plan source)``."""
    rows, facts, source = load_plan(plan, setup.model, str(ga_hyp) if ga_hyp else None)
    if any(r.fit_anchors for r in rows):
        fitted = fit_anchors(setup)
        log(f"anchors fitted to the training boxes (k-means): {fitted}")
        for r in rows:
            if r.fit_anchors:
                r.model_kwargs["anchors"] = fitted
    out.mkdir(parents=True, exist_ok=True)
    if (out / "ablate.csv").exists():
        raise YoloError(f"{out}: holds a previous ablation (ablate.csv); resume it with "
                        f"--resume {out} or choose another --out")
    save_settings(out / "ablate.yaml", setup,
                  {"plan": source, "rows": [asdict(r) for r in rows],
                   "facts": {k: list(v) for k, v in facts.items()}})
    return rows, facts, source


def ablate(data: Any = None, model: Optional[PathLike] = None, *, plan: Any = "paper",
           seeds: int = 2, iterations: Optional[int] = None, out: PathLike = "runs/ablate",
           resume: Optional[PathLike] = None, ga_hyp: Optional[PathLike] = None,
           fitness: Any = None, devices: Any = None, ray: Any = None, ray_cpus: float = 1,
           ray_gpus: float = 0, ray_parallel: Optional[int] = None,
           weights: Optional[PathLike] = None,
           partial: Optional[int] = None, hyp: Optional[PathLike] = None,
           model_kwargs: Optional[Mapping[str, Any]] = None,
           train_fn: Optional[Callable[..., Any]] = None, save_plots: bool = True,
           log: Callable[[str], None] = print, **overrides: Any) -> AblateResult:
    """Run ``plan`` (``"paper"``, a PLAN.yaml path or a mapping) for ``seeds`` seeds each.

    Args:
        data, model, weights, partial, hyp, model_kwargs, **overrides: the training every row
            starts from, as :func:`yolov4.train`; the seeds are ``seed, seed+1, ...``.
        iterations: updates per trial (``max_batches``).
        ga_hyp: the evolved hyp file for the ``paper`` plan's GA rows (without it they are left
            out, see :mod:`yolov4.tune.paper`).
        devices, ray, ray_cpus, ray_gpus, ray_parallel, fitness, train_fn: as
            :func:`yolov4.evolve`.
        resume: a previous ablation directory to continue.
        save_plots: write the PNG plots of the search (``plots=`` is the trials' own).
    """
    pool = make_pool(resume if resume is not None else out, devices, ray, ray_cpus, ray_gpus,
                     ray_parallel, train_fn, batches=False)   # a fixed plan: no batches
    if resume is not None:
        out, setup, extra = resume_run(resume, "ablate.yaml", data, model=model,
                                       iterations=iterations, ga_hyp=ga_hyp, fitness=fitness,
                                       weights=weights, partial=partial, hyp=hyp,
                                       model_kwargs=model_kwargs, overrides=overrides)
        rows = [Row(**r) for r in extra["rows"]]
        facts = {k: tuple(v) for k, v in (extra.get("facts") or {}).items()}
        source = extra.get("plan", "?")
    else:
        setup = make_setup(data, model, weights=weights, partial=partial, hyp=hyp,
                           model_kwargs=model_kwargs, iterations=iterations, fitness=fitness,
                           overrides=overrides)
        out = Path(out)
        rows, facts, source = _new_ablation(out, setup, plan, ga_hyp, log)
    if int(seeds) < 1:
        raise YoloError(f"seeds must be >= 1, got {seeds}")
    seed_list = [setup.seed + k for k in range(int(seeds))]
    csv_path = out / "ablate.csv"
    records = read_records(csv_path)
    done = {(str(r["row"]), int(r["seed"])) for r in records}
    queue = [(row, s) for row in rows for s in seed_list if (row.name, s) not in done]
    log(f"ablate: {len(rows)} rows x {len(seed_list)} seeds; {len(records)} trials recorded, "
        f"{len(queue)} to run in {out}")
    meta: Dict[str, tuple] = {}

    def next_spec():
        if not queue:
            return None
        row, s = queue.pop(0)
        name = f"{_slug(row.name)}-s{s}"
        meta[name] = (row.name, s)
        return setup.spec(name, out / "trials" / name, {**row.overrides, "seed": s},
                          row.model_kwargs, row.hyp)

    def finished(o: TrialOutcome) -> None:
        row, s = meta.pop(o.name)
        records[:] = append_record(csv_path, {"row": row, "seed": s, "status": o.status,
                                              "fitness": o.fitness, "seconds": o.seconds,
                                              **o.metrics, "error": o.error}, LEAD)
        log(f"{row} seed {s}: {o.status} AP50 {o.metrics.get('coco.AP50', 0):.4f} AP "
            f"{o.metrics.get('coco.AP', 0):.4f} in {o.seconds:.0f}s"
            + (f": {o.error}" if o.error else ""))

    if queue:
        pool.run(next_spec, finished)
    names = [r.name for r in rows]
    base = baseline_name(rows)
    table = build_table(records, names, base, facts)
    md = out / "ablate_table.md"
    text = to_markdown(table, base, len(seed_list), paper=bool(facts))
    atomic_write_text(md, text)
    write_records(out / "ablate_table.csv", table, ("row",))
    if save_plots:
        plot_ablate(table, out / "plots" / "ablate.png")
    log(text)
    return AblateResult(out_dir=out, csv=csv_path, markdown=md, table=table,
                        records=list(records))


__all__ = ["ablate", "AblateResult", "fit_anchors"]
