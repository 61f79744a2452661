"""k-means anchors: recovery of known clusters, determinism, Darknet's size scaling, mean IoU
against a plain-Python IoU, and writing anchors into a cfg."""
from __future__ import annotations

import numpy as np
import pytest

from yolov4.cli import main
from yolov4.darknet.cfg import parse_cfg_text, read_cfg, write_cfg
from yolov4.data.anchors import (anchor_fit, box_sizes, check_anchors, kmeans_anchors,
                                 mean_best_iou, set_anchors)
from yolov4.data.formats import load_dataset
from yolov4.errors import CfgError

from test_data_formats import make_yolo

TRUE = np.array([[12, 16], [19, 36], [40, 28], [36, 75], [76, 55], [72, 146],
                 [142, 110], [192, 243], [459, 401]], float)  # yolov4.cfg anchors


def clustered(seed=0, per=150, spread=0.04):
    rng = np.random.default_rng(seed)
    wh = np.repeat(TRUE, per, 0) * np.exp(rng.normal(0, spread, (len(TRUE) * per, 2)))
    return rng.permutation(wh)


@pytest.mark.parametrize("seed", [0, 5, 11])
def test_recovers_known_clusters(seed):
    anchors, iou = kmeans_anchors(clustered(seed), 9, seed=seed)
    np.testing.assert_allclose(anchors, TRUE, rtol=0.03)  # sorted by area like TRUE
    assert iou > 0.9


def test_deterministic_and_sorted():
    wh = clustered(1, spread=0.3)
    a1, i1 = kmeans_anchors(wh, 6, seed=5)
    a2, i2 = kmeans_anchors(wh, 6, seed=5)
    np.testing.assert_array_equal(a1, a2)
    assert i1 == i2 and (np.diff(a1.prod(1)) >= 0).all()


def test_mean_best_iou_plain_python():
    wh = [(10, 20), (30, 30), (5, 50)]
    anchors = [(10, 10), (30, 40)]

    def iou(a, b):  # corner-aligned boxes
        inter = min(a[0], b[0]) * min(a[1], b[1])
        return inter / (a[0] * a[1] + b[0] * b[1] - inter)

    expected = sum(max(iou(w, a) for a in anchors) for w in wh) / len(wh)
    assert mean_best_iou(np.array(wh, float), np.array(anchors, float)) == pytest.approx(expected)


def test_box_sizes_scaled_like_calc_anchors(tmp_path):
    ds = load_dataset(make_yolo(tmp_path / "y"))
    # a.png 80x60: boxes 32x24 and 60x30 -> (w/80*608, h/60*416); b.png has none
    np.testing.assert_allclose(box_sizes(ds, 608, 416), [[243.2, 166.4], [456, 208]], rtol=1e-5)


CFG = """[net]
width=416
height=416
[convolutional]
filters=24
[yolo]
mask=3,4,5
anchors=1,1,2,2,3,3,4,4,5,5,6,6
classes=3
num=6
[convolutional]
filters=24
[yolo]
mask=0,1,2
anchors=1,1,2,2,3,3,4,4,5,5,6,6
classes=3
num=6
"""


def test_set_anchors_in_cfg(tmp_path):
    anchors = np.array([[10, 12], [20, 22], [30, 31], [40, 44], [50, 52], [60, 66]], float)
    secs = set_anchors(parse_cfg_text(CFG, "t.cfg"), anchors)
    yolo = [s for s in secs if s.type == "yolo"]
    assert [s.get_ints("mask") for s in yolo] == [[3, 4, 5], [0, 1, 2]]  # same count: kept
    assert yolo[0].get_floats("anchors") == anchors.reshape(-1).tolist()
    four = set_anchors(parse_cfg_text(CFG, "t.cfg"), anchors[:4])
    yolo = [s for s in four if s.type == "yolo"]
    # redistributed keeping the layer order by smallest mask: 2nd layer gets the small ones
    assert [s.get_ints("mask") for s in yolo] == [[2, 3], [0, 1]]
    assert [s.get_int("num") for s in yolo] == [4, 4]
    assert [s.get_int("filters") for s in four if s.type == "convolutional"] == [16, 16]  # (3+5)*2
    with pytest.raises(CfgError, match="t.cfg: 5 anchors"):
        set_anchors(parse_cfg_text(CFG, "t.cfg"), anchors[:5])


def test_cli_anchors_writes_cfg(tmp_path, capsys):
    (tmp_path / "in.cfg").write_text(CFG)
    data = make_yolo(tmp_path / "y")
    out = tmp_path / "out.cfg"
    assert main(["anchors", str(data), "-n", "2", "--cfg", str(tmp_path / "in.cfg"),
                 "--write", str(out)]) == 0
    text = capsys.readouterr().out
    # 416x416 from the cfg: boxes (166.4, 166.4) and (312, 208); 2 clusters = the boxes
    assert "anchors = 166,166, 312,208" in text and "mean best IoU = 100.00%" in text
    yolo = [s for s in read_cfg(out) if s.type == "yolo"]
    assert [s.get_ints("mask") for s in yolo] == [[1], [0]]
    assert main(["anchors", str(data), "-n", "5"]) == 2  # too few boxes: one-line error


def test_anchor_fit_by_hand():
    wh = np.array([[10, 10], [50, 50]], float)
    # one anchor 12x12: 10/12 is within x4, 50/12 = 4.17 is not -> recall 1/2;
    # IoUs 100/144 and 144/2500 -> mean (0.69444 + 0.0576) / 2
    bpr, iou = anchor_fit(wh, np.array([[12, 12]], float))
    assert bpr == 0.5 and iou == pytest.approx((100 / 144 + 144 / 2500) / 2)
    assert anchor_fit(wh, np.array([[12, 12], [40, 60]], float))[0] == 1.0
    assert anchor_fit(np.zeros((0, 2)), np.array([[1, 1]], float)) == (0.0, 0.0)


def test_check_anchors_reports_and_refits_only_on_request(tmp_path):
    ds = load_dataset(make_yolo(tmp_path / "y"))
    # at 416x416 the boxes are 166x166 and 312x208; CFG's anchors are 1..6 px: recall 0
    secs = parse_cfg_text(CFG, "t.cfg")
    assert "not re-fitted: 2 boxes" in check_anchors(secs, ds, 416, 416, refit=True)[1][0]
    secs = parse_cfg_text(CFG.replace("1,1,2,2,3,3,4,4,5,5,6,6", "1,1,2,2").replace("num=6", "num=2")
                          .replace("mask=3,4,5", "mask=1").replace("mask=0,1,2", "mask=0"), "t.cfg")
    kept, lines = check_anchors(secs, ds, 416, 416)
    assert "best possible recall 0.0%" in lines[0] and "anchors=auto re-fits" in lines[0]
    assert [s.get_floats("anchors") for s in kept if s.type == "yolo"][0][:2] == [1, 1]
    new, lines = check_anchors(secs, ds, 416, 416, refit=True)
    assert "anchors=auto: re-fitted" in lines[1] and "best possible recall 100.0%" in lines[1]
    anchors = np.array([s.get_floats("anchors") for s in new if s.type == "yolo"][0]).reshape(-1, 2)
    assert anchor_fit(box_sizes(ds, 416, 416), anchors)[0] == 1.0
    assert secs[2].get_floats("anchors")[:2] == [1, 1]          # the caller's sections untouched
