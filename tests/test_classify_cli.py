"""``yolov4 classify train|val|predict`` end to end on a few built-in crops, then the transfer:
``yolov4 partial`` of the trained classifier and ``yolov4 train --weights`` of the detector."""
from __future__ import annotations

import json
from pathlib import Path

from yolov4.cli import main
from yolov4.data.classify_synth import generate_classes


def test_classify_train_val_predict_partial(tmp_path: Path, capsys):
    data = generate_classes(tmp_path / "data", images=40, classes=3, size=32)
    out = tmp_path / "run"
    assert main(["classify", "train", "--data", str(data), "--model", "cspdarknet53-tiny",
                 "--width-multiple", "0.25", "--size", "32", "--batch", "8", "--epochs", "1",
                 "--out", str(out), "--quiet", "subdivisions=1", "threads=1", "mosaic=1",
                 "cutmix=1", "mixup=0"]) == 0
    text = capsys.readouterr().out
    assert "top-1" in text and (out / "names.txt").read_text().split() == \
        ["circle", "square", "triangle"]
    assert (out / "plots" / "confusion_matrix.png").exists()
    header = (out / "results.csv").read_text().splitlines()[0]
    assert header == "epoch,iteration,lr,loss,cls,top1,top5"
    assert main(["classify", "val", "--data", str(data), "--model", str(out / "model.cfg"),
                 "--weights", str(out / "model.weights"), "--json", str(tmp_path / "m.json"),
                 "--top", "2"]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["images"] == 8 and 0 <= metrics["top1"] <= metrics["top5"] <= 1
    assert sum(map(sum, metrics["confusion"])) == 8
    one = next((data / "val").rglob("*.jpg"))
    assert main(["classify", "predict", str(one), "--model", str(out / "model.cfg"),
                 "--weights", str(out / "model.weights"), "--top", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(str(one)) and len(line.split(",")) == 2
    assert main(["partial", str(out / "model.cfg"), str(out / "model.weights"),
                 str(tmp_path / "backbone.conv")]) == 0
    assert "layers 0..26" in capsys.readouterr().out
    assert main(["data", "check", str(data)]) == 0
    assert "classification dataset, 3 classes" in capsys.readouterr().out


def test_classifier_resume_is_exact(tmp_path: Path):
    from yolov4.engine.classify_api import train
    data = generate_classes(tmp_path / "data", images=40, classes=3, size=32)
    kw = dict(model_kwargs=dict(width_multiple=0.25), size=32, batch=8, subdivisions=1,
              max_batches=6, verbose=False, threads=1, log=lambda s: None, cutmix=1, mosaic=1)
    straight = train(str(data), "cspdarknet53-tiny", out=tmp_path / "a", **kw)
    train(str(data), "cspdarknet53-tiny", out=tmp_path / "b", stop_after=3, **kw)
    resumed = train(resume=tmp_path / "b" / "last.pt", verbose=False, log=lambda s: None,
                    stop_after=0)
    assert [r["loss"] for r in resumed.losses] == [r["loss"] for r in straight.losses]
    assert len(resumed.losses) == 6
