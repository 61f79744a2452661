"""``yolov4 detect`` on an image, a directory (with a corrupt file), a generated video, and bad
input (one error line naming the file, exit code 2)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from yolov4.cli import main
from test_predict import TINY_CFG


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    p = tmp_path_factory.mktemp("cli") / "tiny.cfg"
    p.write_text(TINY_CFG)
    return str(p)


def test_image_with_real_weights(shared_darknet, tmp_path, capsys):
    w = shared_darknet / "weights"
    code = main(["detect", str(shared_darknet / "images" / "dog.jpg"), "--model",
                 str(w / "yolov4-tiny.cfg"), "--weights", str(w / "yolov4-tiny.weights"),
                 "--out", str(tmp_path), "--save-json", str(tmp_path / "r.json"), "--save-txt"])
    assert code == 0
    assert "dog" in capsys.readouterr().out
    recs = json.loads((tmp_path / "r.json").read_text())
    assert {r["category_id"] for r in recs} >= {16, 1}  # dog, bicycle (0-based coco.names)
    assert set(recs[0]) == {"file_name", "category_id", "bbox", "score"}
    lines = (tmp_path / "labels" / "dog.txt").read_text().splitlines()
    assert len(lines) == len(recs) and len(lines[0].split()) == 5
    annotated = cv2.imread(str(tmp_path / "dog.jpg"))
    assert annotated.shape == (576, 768, 3)


def test_directory_skips_corrupt_image(cfg, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    im = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    cv2.imwrite(str(src / "a.jpg"), im)
    cv2.imwrite(str(src / "b.png"), im)
    (src / "broken.jpg").write_bytes(b"garbage")
    out = tmp_path / "out"
    code = main(["detect", str(src), "--model", cfg, "--conf", "0.01", "--size", "64", "64",
                 "--out", str(out), "--save-json", str(out / "r.json"), "--nms", "diou"])
    assert code == 0
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "skipped" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.png", "r.json"]
    names = {r["file_name"] for r in json.loads((out / "r.json").read_text())}
    assert names <= {"a.jpg", "b.png"}


def test_video(cfg, tmp_path):
    src = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(5):
        vw.write(np.full((48, 64, 3), 30 * i, np.uint8))
    vw.release()
    out = tmp_path / "out"
    assert main(["detect", str(src), "--model", cfg, "--out", str(out), "--quiet",
                 "--save-txt", "--optimize"]) == 0
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert n == 5
    assert len(list((out / "labels").glob("clip_*.txt"))) == 5


def test_cfg_weights_mismatch_one_line(shared_darknet, tmp_path, capsys):
    w = shared_darknet / "weights"
    code = main(["detect", str(shared_darknet / "images" / "dog.jpg"), "--model",
                 str(w / "yolov4-tiny.cfg"), "--weights", str(w / "yolov3-tiny.weights"),
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "yolov3-tiny.weights" in err[0], err


@pytest.mark.parametrize("make,needle", [
    (lambda d, cfg: ["detect", str(d / "nope.jpg"), "--model", cfg], "nope.jpg"),
    (lambda d, cfg: ["detect", str(d / "bad.jpg"), "--model", cfg], "bad.jpg"),
    (lambda d, cfg: ["detect", str(d / "bad.mp4"), "--model", cfg], "bad.mp4"),
    (lambda d, cfg: ["detect", str(d / "ok.png"), "--model", cfg, "--weights",
                     str(d / "missing.weights")], "missing.weights"),
    (lambda d, cfg: ["detect", str(d / "ok.png"), "--model", cfg, "--weights",
                     str(d / "bad.weights")], "bad.weights"),
    (lambda d, cfg: ["detect", str(d / "ok.png"), "--model", cfg, "--names",
                     str(d / "x.names")], "x.names"),
])
def test_bad_input_one_line(make, needle, cfg, tmp_path, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    (tmp_path / "bad.mp4").write_bytes(b"\0" * 64)
    (tmp_path / "bad.weights").write_bytes(b"\0" * 7)
    (tmp_path / "x.names").write_text("a\n")
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((8, 8, 3), np.uint8))
    code = main(make(tmp_path, cfg) + ["--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err
