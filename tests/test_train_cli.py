"""`yolov4 demo --quick` and `yolov4 train` through the CLI (seconds; plots included once)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train_helpers import tiny_cfg  # noqa: E402

from yolov4.cli import main  # noqa: E402
from yolov4.engine.checkpoint import load_checkpoint  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_demo_quick_writes_everything(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert f"annotated predictions: {out / 'predictions'}" in text
    assert len(list((out / "predictions").glob("*.jpg"))) == 4          # the held-out images
    for name in ("plots/losses.png", "plots/lr.png", "plots/map.png", "model.cfg",
                 "model.weights", "last.pt", "best.pt", "results.csv", "iterations.csv"):
        assert (out / name).stat().st_size > 0, name
    # the Darknet files are a loadable pair
    net = __import__("yolov4").Darknet.from_cfg(out / "model.cfg")
    net.load_weights(out / "model.weights")

    # yolov4 train on the demo's data with a cfg path, key=value overrides, then --resume
    cfg = tiny_cfg(tmp_path / "tiny.cfg")
    run = tmp_path / "run"
    args = ["train", "--data", str(out / "data" / "data.yaml"), "--model", str(cfg),
            "--max-batches", "3", "--batch", "4", "--subdivisions", "2", "--out", str(run),
            "--quiet", "eval_interval=0", "plots=0", "stop_after=2", "learning_rate=0.001"]
    assert main(args) == 0
    ck = load_checkpoint(run / "last.pt")
    assert ck["iteration"] == 2 and ck["config"]["subdivisions"] == 2
    assert ck["config"]["learning_rate"] == 0.001
    assert main(["train", "--resume", str(run / "last.pt"), "--quiet", "stop_after=0"]) == 0
    assert load_checkpoint(run / "last.pt")["iteration"] == 3
    assert "[yolo]" in (run / "model.cfg").read_text()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--model", "yolov4-tiny", "learnin_rate=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown hyperparameter 'learnin_rate' (did you mean learning_rate" in err
    assert main(["train", "--resume", str(tmp_path / "missing.pt")]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err
    assert main(["train", "--model", "yolov4-tiny"]) == 2
    assert "--data is required" in capsys.readouterr().err
