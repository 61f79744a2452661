"""Run the trials of ``yolov4 evolve`` / ``yolov4 ablate`` on Ray Tune (``--ray``).

Only the executor changes: the search still proposes every trial (:class:`RayPool` has
:class:`~yolov4.tune.trial.TrialPool`'s ``run(propose, on_done)`` interface), each Tune trial
calls the one trial runner :func:`~yolov4.tune.trial.run_trial`, and ``on_done`` records the
outcome in this (the driver's) process exactly as the sequential path does.

How Tune is used: a :class:`ray.tune.Tuner` whose search algorithm is a small
:class:`ray.tune.search.Searcher` around our ``propose`` callback. Tune calls the searcher's
``suggest`` whenever it may start a trial and ``on_trial_complete`` when one ends, in the driver,
which is all our GA needs; the searcher adds one rule for evolve, **batches**: up to ``parallel``
proposals are made while nothing runs, the next batch only once every trial of this one is
recorded. Each proposal is thus drawn from the records of all earlier batches, so a Ray search
is reproducible from the seed for a given ``parallel``, and with ``parallel=1`` it proposes
exactly what the sequential search does. An ablation's trials are a fixed plan: no batches, a
new trial whenever one ends.

Files: every trial writes to its own ``OUT/trials/NAME`` on the worker's node, so with several
machines ``OUT`` must be on a filesystem all of them share (a trial on a node that does not see
``OUT`` fails with a message saying so); results (status, metrics, fitness) come back by value
through Tune. Tune's own experiment files go to ``OUT/ray/<time>/`` (not read by resume).
Importing this module does not import Ray.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ..atomic import atomic_write_text
from ..errors import YoloError
from .trial import TrainFn, TrialOutcome, TrialSpec, run_trial

INSTALL_HINT = 'pip install "yolov4[tune]"'
#: The key of the one value a Tune trial reports: its :class:`TrialOutcome` as JSON.
RESULT_KEY = "yolov4_outcome"
#: The file a trial reads to check that it sees the driver's run directory.
MARKER = ".ray_run_dir"


def require_ray() -> Any:
    """The ``ray`` module (with Tune), or a :class:`YoloError` saying how to install it."""
    try:
        import ray
        import ray.tune  # noqa: F401
    except ImportError as err:
        raise YoloError(f"--ray needs Ray Tune, which is not installed ({err}); install it with: "
                        f"{INSTALL_HINT}") from None
    return ray


def ray_address(value: Any) -> Optional[str]:
    """``ray=`` of :func:`yolov4.evolve` to the address for ``ray.init``: ``True`` / ``""`` ->
    ``None`` (``RAY_ADDRESS`` if set, else a new local instance); a string -> itself
    (``auto``: the cluster already running on this machine; ``HOST:6379``)."""
    if value is True or value is None or str(value).strip() in ("", "local"):
        return None
    address = str(value).strip()
    if address.startswith("ray://"):
        raise YoloError(f"--ray {address}: Ray Client addresses are not supported (the search "
                        f"must run where it records); run yolov4 evolve on a node of the cluster "
                        f"with --ray auto or --ray HEAD:6379, e.g. as a Ray job")
    return address


def _absolute(spec: TrialSpec) -> TrialSpec:
    """``spec`` with its run directory, and any relative data/model/weights/hyp path that exists
    here, made absolute: a Tune trial runs in a working directory of its own."""
    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not os.path.isabs(value) and os.path.exists(value):
            return os.path.abspath(value)
        return value
    return replace(spec, out_dir=os.path.abspath(spec.out_dir), data=fix(spec.data),
                   model=fix(spec.model), weights=fix(spec.weights), hyp=fix(spec.hyp))


def unshared(spec: TrialSpec, marker: str, token: str) -> Optional[TrialOutcome]:
    """A ``failed`` outcome when this node does not see the driver's run directory (``marker``
    missing or not holding ``token``), else ``None``."""
    path = Path(marker)
    seen = path.read_text(encoding="utf-8").strip() if path.is_file() else None
    if seen == token:
        return None
    return TrialOutcome(spec.name, "failed", 0.0, {}, 0.0, spec.out_dir,
                        error=f"{path.parent} is not visible on {socket.gethostname()}: with "
                              f"several machines the run directory (--out) must be on a shared "
                              f"filesystem")


def tune_trial(config: Dict[str, Any], train_fn: Optional[TrainFn] = None, marker: str = "",
               token: str = "", threads: int = 1) -> None:
    """The Tune trainable: run ``config["spec"]`` with :func:`run_trial` and report the outcome.

    The run directory is checked first (``marker`` must hold ``token``): on a node that does not
    share it, the trial fails with that reason instead of training into a local folder."""
    from ray import tune

    spec: TrialSpec = config["spec"]
    outcome = unshared(spec, marker, token)
    if outcome is None:
        import torch
        torch.set_num_threads(max(1, int(threads)))
        outcome = run_trial(spec, train_fn)
    tune.report({RESULT_KEY: json.dumps(asdict(outcome))})


def _trial_name(trial: Any) -> str:
    """Tune's trial (and folder) name: ours."""
    return f"trial_{trial.config['name']}"


def outcome_of(spec: TrialSpec, result: Optional[Dict[str, Any]], error: bool,
               seconds: float, ray_dir: str = "OUT/ray") -> Optional[TrialOutcome]:
    """A finished Tune trial's :class:`TrialOutcome`: the one it reported; ``failed`` with
    fitness 0 when Ray lost it (worker died, Ray error); ``None`` when Tune stopped it before it
    reported (an interrupted search: not recorded, so a resume runs it again)."""
    if result and RESULT_KEY in result:
        return TrialOutcome(**json.loads(result[RESULT_KEY]))
    if not error:
        return None
    message = ("Ray lost the trial (its worker died or Ray failed); Ray's error file is under "
               f"{ray_dir}")
    out = Path(spec.out_dir)
    if out.is_dir():
        (out / "error.txt").write_text(message + "\n", encoding="utf-8")
    return TrialOutcome(spec.name, "failed", 0.0, {}, round(seconds, 3), spec.out_dir,
                        error=message)


def make_searcher(propose: Callable[[], Optional[TrialSpec]],
                  on_done: Callable[[TrialOutcome], None], parallel: int,
                  ray_dir: str = "OUT/ray", batches: bool = True) -> Any:
    """A Tune :class:`~ray.tune.search.Searcher` that asks ``propose`` for each trial and hands
    each outcome to ``on_done``: in batches of up to ``parallel`` (``batches``, for a search
    whose proposals read the records), else whenever Tune may start a trial (a fixed plan)."""
    from ray.tune.search import Searcher

    class GeneticSearcher(Searcher):
        """Our search behind Tune's searcher interface (its state lives in our records)."""

        def __init__(self) -> None:
            super().__init__()
            self.running: Dict[str, tuple] = {}
            self.batch_left = 0

        def suggest(self, trial_id: str) -> Optional[Dict[str, Any]]:
            if not self.running or not batches:  # every trial of the last batch is recorded
                self.batch_left = parallel
            if self.batch_left <= 0:
                return None
            spec = propose()
            if spec is None:
                return Searcher.FINISHED
            spec = _absolute(spec)
            self.batch_left -= 1
            self.running[trial_id] = (spec, time.time())
            return {"name": spec.name, "spec": spec}

        def on_trial_complete(self, trial_id: str, result: Optional[Dict] = None,
                              error: bool = False) -> None:
            spec, start = self.running.pop(trial_id, (None, 0.0))
            if spec is None:
                return
            outcome = outcome_of(spec, result, error, time.time() - start, ray_dir)
            if outcome is not None:
                on_done(outcome)

        def save(self, checkpoint_path: str) -> None:
            """Nothing to save: the search's state is its records file."""

        def restore(self, checkpoint_path: str) -> None:
            """Nothing to restore (resume reads the records file)."""

    return GeneticSearcher()


class RayPool:
    """Runs trials as Ray Tune trials with ``cpus``/``gpus`` each, at most ``parallel`` at once
    (default: as many as the cluster's resources hold), on the cluster at ``address``
    (:func:`ray_address`); in batches (the next ``parallel`` proposals once every trial of the
    last ones ended) unless ``batches=False``. A Ray instance this pool starts is shut down
    when :meth:`run` ends; one already initialised (``ray.init`` by the caller) is used as is."""

    def __init__(self, run_dir: os.PathLike, address: Optional[str] = None, cpus: float = 1,
                 gpus: float = 0, parallel: Optional[int] = None,
                 train_fn: Optional[TrainFn] = None, batches: bool = True) -> None:
        if not float(cpus) > 0 or float(gpus) < 0:
            raise YoloError(f"--ray-cpus must be > 0 and --ray-gpus >= 0 (got {cpus}, {gpus})")
        if parallel is not None and int(parallel) < 1:
            raise YoloError(f"--ray-parallel must be >= 1, got {parallel}")
        require_ray()                       # the install hint before anything is written
        self.run_dir = Path(run_dir).resolve()
        self.address, self.cpus, self.gpus = address, float(cpus), float(gpus)
        self.parallel = None if parallel is None else int(parallel)
        self.train_fn, self.batches = train_fn, bool(batches)

    def capacity(self, ray: Any) -> int:
        """How many trials the cluster's resources hold at once (at least 1, else an error)."""
        res = ray.cluster_resources()
        n = int(res.get("CPU", 0) // self.cpus)
        if self.gpus > 0:
            n = min(n, int(res.get("GPU", 0) // self.gpus))
        if n < 1:
            raise YoloError(f"the Ray cluster has {res.get('CPU', 0):g} CPUs and "
                            f"{res.get('GPU', 0):g} GPUs: not enough for one trial "
                            f"(--ray-cpus {self.cpus:g} --ray-gpus {self.gpus:g})")
        return n

    def run(self, propose: Callable[[], Optional[TrialSpec]],
            on_done: Callable[[TrialOutcome], None]) -> None:
        """As :meth:`TrialPool.run <yolov4.tune.trial.TrialPool.run>`, on Ray Tune."""
        ray = require_ray()
        started = not ray.is_initialized()
        if started:
            env = self.address is not None or os.environ.get("RAY_ADDRESS")
            ray.init(address=self.address, **({} if env else {"include_dashboard": False}))
        try:
            self._fit(ray, propose, on_done)
        finally:
            if started:
                ray.shutdown()

    def _fit(self, ray: Any, propose: Callable[[], Optional[TrialSpec]],
             on_done: Callable[[TrialOutcome], None]) -> None:
        from ray import tune

        parallel = self.parallel or self.capacity(ray)
        token = uuid.uuid4().hex
        marker = self.run_dir / MARKER
        atomic_write_text(marker, token + "\n")
        trainable = tune.with_resources(
            tune.with_parameters(tune_trial, train_fn=self.train_fn, marker=str(marker),
                                 token=token, threads=max(1, int(self.cpus))),
            {"cpu": self.cpus, "gpu": self.gpus})
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")   # no Tune tables: we log each trial
        # its TensorBoard logger says, per trial, that it cannot log the spec (not a number)
        logging.getLogger("ray.tune.logger.tensorboardx").setLevel(logging.WARNING)
        name = time.strftime("%Y%m%d-%H%M%S")
        searcher = make_searcher(propose, on_done, parallel, str(self.run_dir / "ray" / name),
                                 self.batches)
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1,
                                        max_concurrent_trials=parallel, reuse_actors=True,
                                        trial_name_creator=_trial_name,
                                        trial_dirname_creator=_trial_name),
            run_config=tune.RunConfig(name=name, storage_path=str(self.run_dir / "ray"),
                                      verbose=0, failure_config=tune.FailureConfig(max_failures=0)))
        tuner.fit()


__all__ = ["RayPool", "require_ray", "ray_address", "tune_trial", "make_searcher", "outcome_of",
           "unshared",
           "INSTALL_HINT"]
