"""evolve and ablate end to end on a tiny generated dataset (64 px, yolov4-tiny at 1/8 width, a
few updates per trial), the NaN / crash / resume behaviour of the shared trial runner."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

import yolov4
from yolov4.cli import main
from yolov4.engine.trainer import TrainingError
from yolov4.tune.records import read_records
from yolov4.tune.trial import TrialSpec, run_trial

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(model="yolov4-tiny", model_kwargs={"width_multiple": 0.125}, batch=2, size=64,
            plots=0, tensorboard=0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from yolov4.data.synth import generate
    return str(generate(tmp_path_factory.mktemp("synth"), images=8, classes=2, size=64, seed=0,
                        val_fraction=0.25, max_objects=2))


def test_evolve_three_trials_end_to_end(data, tmp_path):
    quiet = []
    r = yolov4.evolve(data=data, trials=3, iterations=2, out=tmp_path / "ev", log=quiet.append,
                      genes=["learning_rate", "mosaic", "ignore_thresh"], **TINY)
    rows = read_records(r.csv)
    assert [row["trial"] for row in rows] == [0, 1, 2]
    assert all(row["status"] == "ok" and row["seed"] == 0 for row in rows)
    assert rows[0]["origin"] == "base" and rows[0]["learning_rate"] == 0.002   # the recipe's
    assert rows[0]["ignore_thresh"] == 0.7                                    # tiny cfg's
    assert all(0.3 <= row["ignore_thresh"] <= 0.9 and row["mosaic"] in (0, 1) for row in rows)
    assert r.best_trial is not None and r.best_fitness >= r.base_fitness
    hyp = yaml.safe_load(r.best_hyp.read_text())
    assert set(hyp) == {"learning_rate", "mosaic", "ignore_thresh"}
    assert r.best_weights is not None and r.best_weights.exists()
    assert (r.out_dir / "plots" / "evolve_genes.png").exists()
    assert (r.out_dir / "plots" / "evolve_fitness.png").exists()
    assert not list((r.out_dir / "trials").glob("*/run/*.pt"))    # only best/ keeps weights


def _fake_train(calls, fail=None):
    """A stand-in for yolov4.train: records its overrides, fails on the trials in ``fail``."""
    def train(**kw):
        calls.append(kw)
        n = len(calls) - 1
        if fail and n in fail:
            raise fail[n]
        ap = 0.1 + 0.01 * n
        return SimpleNamespace(metrics={"coco.AP": ap, "coco.AP50": 2 * ap}, best=None, last=None)
    return train


def test_nan_and_crashing_trials_are_recorded_and_the_search_goes_on(data, tmp_path):
    calls = []
    fail = {1: TrainingError("loss is nan at iteration 3; training stopped"),
            2: RuntimeError("segfault-like crash")}
    r = yolov4.evolve(data=data, trials=4, iterations=2, out=tmp_path / "ev", save_plots=False,
                      train_fn=_fake_train(calls, fail), log=lambda s: None, **TINY)
    rows = {row["trial"]: row for row in read_records(r.csv)}
    assert (rows[1]["status"], rows[1]["fitness"]) == ("nan", 0.0)
    assert (rows[2]["status"], rows[2]["fitness"]) == ("failed", 0.0)
    assert "segfault-like crash" in rows[2]["error"]
    assert (tmp_path / "ev" / "trials" / "0002" / "error.txt").exists()
    assert rows[3]["status"] == "ok" and rows[3]["fitness"] == pytest.approx(0.1 * 0.26 + 0.9 * 0.13)
    assert r.best_trial == 3


def test_a_real_nan_trial(data, tmp_path):
    spec = TrialSpec("x", str(tmp_path / "t"), data, "yolov4-tiny",
                     overrides=dict(max_batches=3, batch=2, size=64, learning_rate=1e30,
                                    burn_in=0, nan_patience=1, plots=0, tensorboard=0),
                     model_kwargs={"width_multiple": 0.125})
    out = run_trial(spec)
    assert (out.status, out.fitness, out.metrics) == ("nan", 0.0, {})
    assert "loss is nan" in out.error or "not finite" in out.error


def test_resume_runs_only_the_missing_trials(data, tmp_path):
    calls = []
    first = yolov4.evolve(data=data, trials=2, iterations=2, out=tmp_path / "ev",
                          save_plots=False, train_fn=_fake_train(calls), log=lambda s: None,
                          seed=3, **TINY)
    assert len(calls) == 2
    before = read_records(first.csv)
    again = yolov4.evolve(resume=tmp_path / "ev", trials=4, train_fn=_fake_train(calls),
                          log=lambda s: None, save_plots=False)
    assert len(calls) == 4                                  # trials 2 and 3 only
    rows = read_records(again.csv)
    assert [row["trial"] for row in rows] == [0, 1, 2, 3] and rows[:2] == before
    assert all(c["seed"] == 3 and c["max_batches"] == 2 for c in calls)
    # the same proposals as one uninterrupted run of 4 trials
    straight = yolov4.evolve(data=data, trials=4, iterations=2, out=tmp_path / "st",
                             save_plots=False, train_fn=_fake_train([]), log=lambda s: None,
                             seed=3, **TINY)
    drop = ("seconds",)
    assert ([{k: v for k, v in r.items() if k not in drop} for r in straight.records]
            == [{k: v for k, v in r.items() if k not in drop} for r in rows])
    assert yolov4.evolve(resume=tmp_path / "ev", trials=4, train_fn=_fake_train(calls),
                         log=lambda s: None, save_plots=False).records == rows
    assert len(calls) == 4                                  # nothing left to run
    with pytest.raises(yolov4.YoloError, match="cannot change iterations"):
        yolov4.evolve(resume=tmp_path / "ev", trials=5, iterations=9)
    with pytest.raises(yolov4.YoloError, match="previous search"):
        yolov4.evolve(data=data, trials=1, out=tmp_path / "ev", **TINY)


def test_ablate_two_rows_two_seeds_through_the_cli(data, tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("baseline: {}\nno-iou-thresh: {iou_thresh: 1.0}\n")
    out = tmp_path / "ab"
    argv = ["ablate", "--data", data, "--model", "yolov4-tiny", "--width-multiple", "0.125",
            "--batch", "2", "--size", "64", "--iterations", "2", "--plan", str(plan),
            "--seeds", "2", "--out", str(out), "plots=0", "tensorboard=0"]
    assert main(argv) == 0
    rows = read_records(out / "ablate.csv")
    assert sorted((r["row"], r["seed"]) for r in rows) == [
        ("baseline", 0), ("baseline", 1), ("no-iou-thresh", 0), ("no-iou-thresh", 1)]
    table = read_records(out / "ablate_table.csv")
    assert [t["row"] for t in table] == ["baseline", "no-iou-thresh"]
    assert table[1]["n"] == 2 and table[1]["dAP"] is not None
    md = (out / "ablate_table.md").read_text()
    assert "| no-iou-thresh | 2/2 |" in md and (out / "plots" / "ablate.png").exists()
    # resume with one more seed: only the two missing trials run
    assert main(["ablate", "--resume", str(out), "--seeds", "3"]) == 0
    assert len(read_records(out / "ablate.csv")) == 6
    assert "6 trials recorded" not in capsys.readouterr().out


def test_parallel_devices_run_one_trial_per_worker(data, tmp_path):
    """--devices with two entries: two spawned worker processes (CPU here, GPUs in use)."""
    r = yolov4.ablate(data=data, plan={"baseline": {}}, seeds=2, iterations=1,
                      out=tmp_path / "ab", devices="cpu,cpu", log=lambda s: None,
                      save_plots=False, **TINY)
    assert sorted((row["seed"], row["status"]) for row in r.records) == [(0, "ok"), (1, "ok")]
