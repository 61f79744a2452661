"""Bad input: every label defect reported with file and line, corrupt images skipped with one
warning, background images, and ``yolov4 data check`` output and exit codes."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from yolov4.cli import main
from yolov4.data.check import check_dataset
from yolov4.data.dataset import DataWarning
from yolov4.data.formats import load_dataset
from yolov4.data.labels import label_path_for, parse_label_text

from test_data_formats import make_coco, make_voc, make_yolo, write_image


def problems_by_line(text, classes=3):
    labels, boxes, problems = parse_label_text(text, "x.txt", classes)
    return labels, boxes, {p.line: p for p in problems}


def test_label_lines_rejected_with_line_numbers():
    text = ("0 0.5 0.5 0.2 0.2\n"     # 1 ok
            "1 0.5 0.5 0.2\n"         # 2 four fields
            "\n"                      # 3 blank: ignored
            "2 0.5 abc 0.2 0.2\n"     # 4 not a number
            "3 0.5 0.5 0.2 0.2\n"     # 5 class out of range (3 classes)
            "-1 0.5 0.5 0.2 0.2\n"    # 6 negative class
            "1.5 0.5 0.5 0.2 0.2\n"   # 7 non-integer class
            "1 0.5 0.5 nan 0.2\n"     # 8 nan
            "1 0.5 0.5 0 0.2\n"       # 9 zero width
            "2 0.5 0.5 0.2 0.2 7\n")  # 10 six fields
    labels, boxes, probs = problems_by_line(text)
    assert labels.tolist() == [0]
    assert sorted(probs) == [2, 4, 5, 6, 7, 8, 9, 10]
    assert all(p.fatal and p.file == "x.txt" for p in probs.values())
    assert "out of range" in probs[5].message and "5 fields" in probs[2].message
    assert "'abc'" in probs[4].message


def test_coordinates_outside_clipped_with_warning():
    # cx=0.95, w=0.2 -> x from 0.85 to 1.05, clipped to [0.85, 1.0]: cx=0.925, w=0.15
    labels, boxes, probs = problems_by_line("1 0.95 0.5 0.2 0.4\n0 0.5 0.5 0.1 0.1\n")
    assert labels.tolist() == [1, 0]
    np.testing.assert_allclose(boxes[0], [0.925, 0.5, 0.15, 0.4], atol=1e-6)
    assert list(probs) == [1] and not probs[1].fatal and "clipped" in probs[1].message
    # entirely outside: rejected
    labels, _, probs = problems_by_line("1 1.5 0.5 0.2 0.2\n")
    assert len(labels) == 0 and probs[1].fatal


def test_label_path_for():
    assert label_path_for("d/images/train/images/x.jpg") == "d/images/train/labels/x.txt"
    assert label_path_for("VOC/JPEGImages/x.png", ("images", "JPEGImages")) == "VOC/labels/x.txt"
    assert label_path_for("d/pics/x.jpeg") == "d/pics/x.txt"


@pytest.fixture
def bad_yolo(tmp_path):
    yaml = make_yolo(tmp_path / "y")
    lbl = tmp_path / "y" / "labels" / "train"
    write_image(tmp_path / "y" / "images" / "train" / "c.png", 40, 40)
    (lbl / "c.txt").write_text("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n0 1.2 0.5 0.9 0.2\n")
    write_image(tmp_path / "y" / "images" / "train" / "d.png", 30, 30)  # no label file
    (tmp_path / "y" / "images" / "train" / "e.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return yaml


def test_dataset_reports_and_skips(bad_yolo):
    ds = load_dataset(bad_yolo)
    paths = [p.rsplit("/", 1)[-1] for p in ds.paths]
    assert paths == ["a.png", "b.png", "c.png", "d.png", "e.jpg"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = ds[2]
        d = ds[3]
        e1 = ds[4]  # corrupt: skipped, the next readable image (a.png) comes instead
        e2 = ds[4]
    msgs = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert c.labels.tolist() == [0, 0] and len(d.boxes) == 0
    assert any("c.txt:2" in m and "out of range" in m for m in msgs)
    assert any("c.txt:3" in m and "clipped" in m for m in msgs)
    assert sum("e.jpg" in m for m in msgs) == 1  # one warning naming it
    assert e1.path.endswith("a.png") and e2.path.endswith("a.png")
    assert any(p.endswith("e.jpg") for p in ds.skipped)


def test_check_report_and_exit_code(bad_yolo, tmp_path, capsys):
    report = check_dataset(bad_yolo)
    assert report.fatal
    text = report.format_text()
    assert "c.txt:2: error: class id 5 out of range" in text
    assert "c.txt:3: warning:" in text and "e.jpg" in text
    assert report.splits["train"].per_class == [3, 1, 0]  # a: cat+dog, c: two cats (1 rejected)
    assert report.splits["train"].background == 2  # b (empty file), d (no file)
    assert main(["data", "check", str(bad_yolo)]) == 1
    out = capsys.readouterr().out
    assert "c.txt:2" in out and "box size" in out
    good = make_yolo(tmp_path / "good")
    assert main(["data", "check", str(good)]) == 0


def test_check_histogram_hand_counted(tmp_path):
    report = check_dataset(make_yolo(tmp_path / "y"))
    # a.png boxes: 32x24 -> sqrt=27.7 (bin 16-32), 60x30 -> 42.4 (32-64); c.png val 10x20 -> 14.1
    assert report.splits["train"].size_hist[:4] == [0, 0, 1, 1]
    assert report.splits["val"].size_hist[:4] == [0, 1, 0, 0]
    assert not report.problems


def test_coco_and_voc_problems(tmp_path):
    path = make_coco(tmp_path / "c")
    data = json.loads(path.read_text())
    data["annotations"] += [
        {"id": 9, "image_id": 42, "category_id": 5, "bbox": [1, 1, 5, 5]},      # unknown category
        {"id": 10, "image_id": 42, "category_id": 3, "bbox": [70, 50, 20, 20]}]  # leaves 80x60
    path.write_text(json.dumps(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = load_dataset(path)
        assert ds.annotations(0).boxes[-1].tolist() == [70, 50, 80, 60]  # clipped
    report = check_dataset(path)
    text = report.format_text()
    assert "unknown category id 5" in text and "annotation 10" in text and report.fatal

    root = make_voc(tmp_path / "v")
    xml = root / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace(">cat<", ">cow<"))
    (root / "Annotations" / "b.xml").write_text("<annotation><size>")  # broken XML
    report = check_dataset(root)
    text = report.format_text()
    assert "a.xml: error: object 2 (cow): class 'cow' is not in the class list" in text
    assert "b.xml:1: error: not valid XML" in text


def test_missing_image_in_darknet_list(tmp_path):
    from test_data_formats import make_darknet
    data = make_darknet(tmp_path / "d")
    lst = tmp_path / "d" / "data" / "train.txt"
    lst.write_text(lst.read_text() + "obj/JPEGImages/gone.png\n")
    with pytest.warns(DataWarning, match="train.txt:3: error: image 'obj/JPEGImages/gone.png'"):
        ds = load_dataset(data)
    assert len(ds) == 2
    assert main(["data", "check", str(data)]) == 1
