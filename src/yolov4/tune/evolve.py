"""``yolov4.evolve(...)`` / ``yolov4 evolve``: search hyperparameters with a genetic algorithm.

Every trial is one isolated training (:mod:`yolov4.tune.trial`) with the genes proposed by
:mod:`yolov4.tune.ga`. Files in ``out``:

- ``evolve.csv``: one row per finished trial (trial, status, fitness, seconds, seed, origin,
  every gene, the summary metrics, error), appended atomically (:mod:`yolov4.tune.records`);
- ``evolve.yaml``: the run's settings and the gene table (what ``resume=`` reads);
- ``best_hyp.yaml``: the best trial's genes, usable as ``yolov4 train --hyp``;
- ``best/``: the best trial's ``best.pt`` (else ``last.pt``); other trials' checkpoints are
  deleted once they are not the best (their logs and CSVs stay in ``trials/NNNN/``);
- ``plots/evolve_genes.png``, ``plots/evolve_fitness.png``.

``trials`` is the total: resuming with a larger number runs only the missing trials.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import yaml

from ..atomic import atomic_copy, atomic_write_text
from ..errors import YoloError
from .ga import PARENT_RULES, propose
from .genes import Gene, base_values, gene_table
from .plots import plot_evolve
from .records import append_record, read_records
from .session import make_setup, resume_run, save_settings
from .trial import TrialOutcome, make_pool

PathLike = Union[str, "os.PathLike[str]"]
LEAD = ("trial", "status", "fitness", "seconds", "seed", "origin")


@dataclass
class EvolveResult:
    """Where the search wrote its files and what it found."""

    out_dir: Path
    csv: Path
    best_hyp: Optional[Path]
    best_weights: Optional[Path]
    best_trial: Optional[int]
    best_fitness: float
    base_fitness: Optional[float]
    records: List[Dict[str, Any]] = field(default_factory=list)


def _best(records: Sequence[Mapping[str, Any]]) -> Optional[Mapping[str, Any]]:
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        return None
    return max(ok, key=lambda r: (float(r["fitness"]), -int(r["trial"])))


def _write_best_hyp(path: Path, row: Mapping[str, Any], genes: Mapping[str, Gene]) -> None:
    lines = [f"# yolov4 evolve: trial {row['trial']}, fitness {float(row['fitness']):.6g} "
             f"(the best of {path.parent / 'evolve.csv'} so far)",
             "# use: yolov4 train --hyp best_hyp.yaml ... (only the searched genes)"]
    body = {n: genes[n].typed(float(row[n])) for n in genes}
    atomic_write_text(path, "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False))


def _keep_best(out: Path, outcome: TrialOutcome, is_best: bool) -> None:
    """Copy a new best trial's weights to ``out/best``; drop the trial's checkpoints."""
    run = Path(outcome.out_dir) / "run"
    if is_best and outcome.weights:
        dest = out / "best"
        dest.mkdir(exist_ok=True)
        for src in (Path(outcome.weights), run / "model.cfg", run / "model.weights"):
            if src.exists():
                atomic_copy(src, dest / src.name)
    for name in ("best.pt", "last.pt", "model.weights"):
        if (run / name).exists():
            (run / name).unlink()


def _new_search(out: Path, setup: Any, genes: Optional[Sequence[str]], parent: str) -> tuple:
    """Check a new search's settings, write ``out/evolve.yaml``; ``(base values, gene table)``."""
    if parent not in PARENT_RULES:
        raise YoloError(f"parent '{parent}': choose one of {', '.join(PARENT_RULES)}")
    base, table = base_values(setup.data, setup.model, gene_table(genes), hyp=setup.hyp,
                              overrides=setup.overrides, model_kwargs=setup.model_kwargs)
    if not table:
        raise YoloError("no gene left to search (all fixed by your overrides?)")
    out.mkdir(parents=True, exist_ok=True)
    if (out / "evolve.csv").exists():
        raise YoloError(f"{out}: holds a previous search (evolve.csv); resume it with "
                        f"--resume {out} or choose another --out")
    save_settings(out / "evolve.yaml", setup,
                  {"genes": {n: asdict(g) for n, g in table.items()}, "base": base,
                   "parent": parent})
    return base, table


def evolve(data: Any = None, model: Optional[PathLike] = None, *, trials: int = 10,
           iterations: Optional[int] = None, genes: Optional[Sequence[str]] = None,
           fitness: Any = None, devices: Any = None, ray: Any = None, ray_cpus: float = 1,
           ray_gpus: float = 0, ray_parallel: Optional[int] = None,
           out: PathLike = "runs/evolve",
           resume: Optional[PathLike] = None, parent: str = "single",
           weights: Optional[PathLike] = None, partial: Optional[int] = None,
           hyp: Optional[PathLike] = None, model_kwargs: Optional[Mapping[str, Any]] = None,
           train_fn: Optional[Callable[..., Any]] = None, save_plots: bool = True,
           log: Callable[[str], None] = print, **overrides: Any) -> EvolveResult:
    """Evolve the hyperparameters of ``yolov4.train(data, model, ...)`` over ``trials`` runs.

    Args:
        data, model, weights, partial, hyp, model_kwargs, **overrides: the training every trial
            starts from, as :func:`yolov4.train` (``seed`` also seeds the GA; keys you set here
            are not searched).
        trials: total number of trials (trial 0 is the unmutated base run).
        iterations: updates per trial (``max_batches``).
        genes: names to search (default: every gene declared in hyp.yaml).
        fitness: metric weights, ``"AP50=0.1,AP=0.9"`` (default) or a mapping.
        devices: ``"0,1"`` runs one trial per GPU in parallel; default sequential.
        ray: run the trials on Ray Tune (``pip install yolov4[tune]``): ``True`` for a local
            instance (or ``RAY_ADDRESS``), or a cluster address (``"auto"``, ``"HOST:6379"``);
            ``out`` must then be on a filesystem every node shares. ``ray_cpus``/``ray_gpus``:
            resources of each trial; ``ray_parallel``: proposals per batch (default: as many
            trials as the cluster holds); see :mod:`yolov4.tune.ray_pool`.
        out: run directory. resume: a previous run directory to continue (its settings).
        parent: ``single`` (fitness-weighted draw of one of the top 5) or ``weighted``.
        train_fn: the training function (default :func:`yolov4.train`; for tests).
        save_plots: write the PNG plots of the search (``plots=`` is the trials' own).
    """
    pool = make_pool(resume if resume is not None else out, devices, ray, ray_cpus, ray_gpus,
                     ray_parallel, train_fn)             # checks the executor options first
    if resume is not None:
        out, setup, extra = resume_run(resume, "evolve.yaml", data, model=model,
                                       iterations=iterations, genes=genes, fitness=fitness,
                                       weights=weights, partial=partial, hyp=hyp,
                                       model_kwargs=model_kwargs, overrides=overrides)
        table = {n: Gene(**g) for n, g in extra["genes"].items()}
        base, parent = dict(extra["base"]), str(extra["parent"])
    else:
        out = Path(out)
        setup = make_setup(data, model, weights=weights, partial=partial, hyp=hyp,
                           model_kwargs=model_kwargs, iterations=iterations, fitness=fitness,
                           overrides=overrides)
        base, table = _new_search(out, setup, genes, parent)
    if int(trials) < 1:
        raise YoloError(f"trials must be >= 1, got {trials}")
    csv_path = out / "evolve.csv"
    records = read_records(csv_path)
    missing = [i for i in range(int(trials)) if i not in {int(r["trial"]) for r in records}]
    log(f"evolve: {len(table)} genes ({', '.join(table)}); {len(records)} trials recorded, "
        f"{len(missing)} to run in {out}")
    queue = list(missing)

    def next_spec():
        if not queue:
            return None
        i = queue.pop(0)
        values, origin = propose(i, records, base, table, setup.seed, parent)
        overrides_i = {n: table[n].typed(v) for n, v in values.items() if v != base[n]}
        spec = setup.spec(f"{i:04d}", out / "trials" / f"{i:04d}", overrides_i)
        spec_meta[spec.name] = (i, values, origin)
        return spec

    spec_meta: Dict[str, tuple] = {}

    def done(outcome: TrialOutcome) -> None:
        i, values, origin = spec_meta.pop(outcome.name)
        best_before = _best(records)
        row = {"trial": i, "status": outcome.status, "fitness": outcome.fitness,
               "seconds": outcome.seconds, "seed": setup.seed, "origin": origin,
               **{n: table[n].typed(v) for n, v in values.items()}, **outcome.metrics,
               "error": outcome.error}
        records[:] = append_record(csv_path, row, LEAD)
        is_best = (outcome.status == "ok" and (best_before is None
                                               or outcome.fitness > float(best_before["fitness"])))
        _keep_best(out, outcome, is_best)
        if is_best:
            _write_best_hyp(out / "best_hyp.yaml", row, table)
        log(f"trial {i}: {outcome.status} fitness {outcome.fitness:.4f} in "
            f"{outcome.seconds:.0f}s ({origin})" + (" - new best" if is_best else "")
            + (f": {outcome.error}" if outcome.error else ""))

    if queue:
        pool.run(next_spec, done)
    if save_plots and records:
        plot_evolve(records, list(table), out / "plots")
    return _result(out, csv_path, records)


def _result(out: Path, csv_path: Path, records: List[Dict[str, Any]]) -> EvolveResult:
    best = _best(records)
    trial0 = next((r for r in records if int(r["trial"]) == 0), None)
    weights_path = next((p for p in sorted((out / "best").glob("*.pt"))), None) \
        if (out / "best").exists() else None
    return EvolveResult(out_dir=out, csv=csv_path,
                        best_hyp=out / "best_hyp.yaml" if best is not None else None,
                        best_weights=weights_path,
                        best_trial=int(best["trial"]) if best is not None else None,
                        best_fitness=float(best["fitness"]) if best is not None else 0.0,
                        base_fitness=float(trial0["fitness"]) if trial0 is not None else None,
                        records=list(records))


__all__ = ["evolve", "EvolveResult"]
