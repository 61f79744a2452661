"""``yolov4 evolve --ray`` on a local Ray instance: the same GA proposals as the sequential
search, the same records, and failed or lost trials recorded with fitness 0 (docs/TUNING.md,
"Many machines: Ray"). Skipped when Ray Tune is not installed (``pip install yolov4[tune]``)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import yolov4
from yolov4.tune.records import read_records

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(model="yolov4-tiny", model_kwargs={"width_multiple": 0.125}, batch=2, size=64,
            plots=0, tensorboard=0)
GENES = ["learning_rate", "mosaic", "ignore_thresh"]


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance with 2 CPUs for this module (worker processes see ``src``)."""
    ray = pytest.importorskip("ray", reason="Ray Tune not installed: pip install yolov4[tune]")
    pytest.importorskip("ray.tune", reason="Ray Tune not installed: pip install yolov4[tune]")
    import ray.cloudpickle
    src = str(Path(yolov4.__file__).resolve().parents[1])
    path = os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the fake train below
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from yolov4.data.synth import generate
    return str(generate(tmp_path_factory.mktemp("synth"), images=8, classes=2, size=64, seed=0,
                        val_fraction=0.25, max_objects=2))


def _genes(records):
    return [(r["trial"], r["origin"], *[r[g] for g in GENES]) for r in
            sorted(records, key=lambda r: r["trial"])]


def test_ray_search_proposes_and_records_what_the_sequential_one_does(ray_local, data,
                                                                      tmp_path):
    seq = yolov4.evolve(data=data, trials=3, iterations=2, out=tmp_path / "seq", genes=GENES,
                        save_plots=False, log=lambda s: None, seed=1, **TINY)
    lines = []
    ray = yolov4.evolve(data=data, trials=3, iterations=2, out=tmp_path / "ray", genes=GENES,
                        ray=True, ray_parallel=1, log=lines.append, seed=1, **TINY)
    assert _genes(ray.records) == _genes(seq.records)
    assert [r["status"] for r in ray.records] == ["ok"] * 3
    for a, b in zip(sorted(ray.records, key=lambda r: r["trial"]), seq.records):
        assert a["fitness"] == pytest.approx(b["fitness"], abs=1e-6)
    # the one recording path: CSV, best_hyp.yaml, best weights, plots, only best/ keeps weights
    assert ray.best_hyp is not None and ray.best_hyp.exists()
    assert ray.best_weights is not None and ray.best_weights.exists()
    assert (ray.out_dir / "plots" / "evolve_fitness.png").exists()
    assert (ray.out_dir / "trials" / "0002" / "train.log").exists()
    assert not list((ray.out_dir / "trials").glob("*/run/*.pt"))
    assert any(line.startswith("trial 2: ok") for line in lines)


def _flaky_train(**kw):
    """A stand-in for yolov4.train (runs in Ray workers): trial 1 raises, trial 2 kills its
    worker process, the others report metrics growing with the trial number."""
    trial = int(Path(kw["out"]).parent.name)
    if trial == 1:
        raise RuntimeError("boom in trial 1")
    if trial == 2:
        os._exit(3)
    ap = 0.1 + 0.01 * trial
    return SimpleNamespace(metrics={"coco.AP": ap, "coco.AP50": 2 * ap}, best=None, last=None)


def test_failed_and_lost_ray_trials_get_fitness_0_and_resume_skips_them(ray_local, data,
                                                                        tmp_path):
    r = yolov4.evolve(data=data, trials=4, iterations=2, out=tmp_path / "ev", ray="",
                      ray_parallel=2, train_fn=_flaky_train, save_plots=False,
                      log=lambda s: None, **TINY)
    rows = {row["trial"]: row for row in read_records(r.csv)}
    assert sorted(rows) == [0, 1, 2, 3]
    assert (rows[1]["status"], rows[1]["fitness"]) == ("failed", 0.0)
    assert "boom in trial 1" in rows[1]["error"]
    assert (rows[2]["status"], rows[2]["fitness"]) == ("failed", 0.0)
    assert "Ray lost the trial" in rows[2]["error"]
    assert rows[3]["status"] == "ok" and r.best_trial == 3
    # batches of 2: trials 2 and 3 were both drawn from the records of trials 0 and 1
    assert rows[1]["origin"] == "mutate base"
    assert rows[2]["origin"] == rows[3]["origin"] == "mutate 0"
    again = yolov4.evolve(resume=tmp_path / "ev", trials=4, ray=True, train_fn=_flaky_train,
                          log=lambda s: None, save_plots=False)
    assert len(again.records) == 4                      # nothing left to run


def _ok_train(**kw):
    """A stand-in for yolov4.train whose AP is the seed's."""
    ap = 0.1 * (1 + kw["seed"])
    return SimpleNamespace(metrics={"coco.AP": ap, "coco.AP50": 2 * ap}, best=None, last=None)


def test_ablate_on_ray(ray_local, data, tmp_path):
    a = yolov4.ablate(data=data, plan={"baseline": {}, "no-mosaic": {"mosaic": 0}}, seeds=2,
                      out=tmp_path / "ab", ray=True, train_fn=_ok_train, save_plots=False,
                      log=lambda s: None, **TINY)
    assert sorted((r["row"], r["seed"], r["status"]) for r in a.records) == [
        ("baseline", 0, "ok"), ("baseline", 1, "ok"), ("no-mosaic", 0, "ok"),
        ("no-mosaic", 1, "ok")]
    assert a.table[1]["dAP"] == pytest.approx(0.0)


def test_ray_option_errors(tmp_path, data, monkeypatch):
    with pytest.raises(yolov4.YoloError, match="exclude each other"):
        yolov4.evolve(data=data, trials=1, out=tmp_path / "a", ray=True, devices="cpu,cpu",
                      **TINY)
    with pytest.raises(yolov4.YoloError, match="Ray Client"):
        yolov4.evolve(data=data, trials=1, out=tmp_path / "b", ray="ray://head:10001", **TINY)
    with pytest.raises(yolov4.YoloError, match="for --ray"):
        yolov4.evolve(data=data, trials=1, out=tmp_path / "c", ray_parallel=2, **TINY)
    monkeypatch.setitem(sys.modules, "ray", None)           # as if Ray were not installed
    with pytest.raises(yolov4.YoloError, match=r'pip install "yolov4\[tune\]"'):
        yolov4.evolve(data=data, trials=1, out=tmp_path / "d", ray=True, **TINY)
    assert not (tmp_path / "d").exists()


def test_unshared_run_dir_and_lost_or_stopped_trials(tmp_path):
    """No Ray needed: what a trial reports when it does not see OUT, and how Tune's end of a
    trial without a result is recorded (lost: failed, fitness 0; stopped: not recorded)."""
    from yolov4.tune.ray_pool import outcome_of, unshared
    from yolov4.tune.trial import TrialSpec
    spec = TrialSpec("0001", str(tmp_path / "trials" / "0001"), "d.yaml", "yolov4-tiny")
    marker = tmp_path / ".ray_run_dir"
    bad = unshared(spec, str(marker), "abc")
    assert (bad.status, bad.fitness) == ("failed", 0.0) and "shared filesystem" in bad.error
    assert not (tmp_path / "trials").exists()
    marker.write_text("abc\n")
    assert unshared(spec, str(marker), "abc") is None
    assert outcome_of(spec, None, False, 1.0) is None
    lost = outcome_of(spec, None, True, 1.0)
    assert (lost.status, lost.fitness, lost.name) == ("failed", 0.0, "0001")
