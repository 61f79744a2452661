"""Readers of the four formats on hand-written fixtures, format detection, converter round trips.

Oracles: the expected pixel boxes are derived by hand from what each fixture file says (YOLO
relative ``cx cy w h`` times the image size; COCO ``[x, y, w, h]``; VOC ``xmin - 1``), and the
expected RGB pixel from the BGR value written with OpenCV.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolov4.data.convert import convert
from yolov4.data.formats import detect_format, load_dataset


def write_image(path: Path, w: int, h: int, bgr=(10, 20, 200)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bgr
    assert cv2.imwrite(str(path), img)


# Two images: a.png 80x60 with two boxes, b.png 40x40 background (no label file / empty).
# Boxes in pixels (the oracle): a: class 1 [8, 6, 40, 30], class 0 [20, 30, 80, 60].
A_BOXES = np.array([[8, 6, 40, 30], [20, 30, 80, 60]], np.float32)
A_LABELS = np.array([1, 0])
NAMES = ["cat", "dog", "emu"]


def yolo_line(c: int, box, w: int, h: int) -> str:
    x1, y1, x2, y2 = box
    return f"{c} {(x1 + x2) / 2 / w} {(y1 + y2) / 2 / h} {(x2 - x1) / w} {(y2 - y1) / h}\n"


def make_yolo(root: Path) -> Path:
    write_image(root / "images" / "train" / "a.png", 80, 60)
    write_image(root / "images" / "train" / "b.png", 40, 40)
    write_image(root / "images" / "val" / "c.png", 50, 50)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text(
        "".join(yolo_line(c, b, 80, 60) for c, b in zip(A_LABELS, A_BOXES)))
    (root / "labels" / "train" / "b.txt").write_text("")
    (root / "labels" / "val" / "c.txt").write_text("2 0.5 0.5 0.2 0.4\n")
    (root / "data.yaml").write_text("path: /nonexistent/moved\ntrain: images/train\n"
                                    "val: images/val\nnames: {0: cat, 1: dog, 2: emu}\n")
    return root / "data.yaml"


def make_darknet(root: Path) -> Path:
    write_image(root / "data" / "obj" / "JPEGImages" / "a.png", 80, 60)
    write_image(root / "data" / "obj" / "JPEGImages" / "b.png", 40, 40)
    labels = root / "data" / "obj" / "labels"
    labels.mkdir(parents=True)
    (labels / "a.txt").write_text("".join(yolo_line(c, b, 80, 60)
                                          for c, b in zip(A_LABELS, A_BOXES)))
    (root / "data" / "train.txt").write_text("obj/JPEGImages/a.png\nobj/JPEGImages/b.png\n")
    (root / "data" / "valid.txt").write_text("obj/JPEGImages/b.png\n")
    (root / "data" / "obj.names").write_text("cat\ndog\nemu\n")
    (root / "obj.data").write_text("classes = 3\ntrain = data/train.txt\nvalid = data/valid.txt\n"
                                   "names = data/obj.names\nbackup = backup/\n")
    return root / "obj.data"


def make_coco(root: Path) -> Path:
    write_image(root / "images" / "train2017" / "a.png", 80, 60)
    write_image(root / "images" / "train2017" / "b.png", 40, 40)
    # category ids 17 (dog), 3 (cat), 90 (emu): sorted -> cat=0, dog=1, emu=2
    data = {"images": [{"id": 42, "file_name": "a.png", "width": 80, "height": 60},
                       {"id": 7, "file_name": "b.png", "width": 40, "height": 40}],
            "categories": [{"id": 17, "name": "dog"}, {"id": 3, "name": "cat"},
                           {"id": 90, "name": "emu"}],
            "annotations": [
                {"id": 1, "image_id": 42, "category_id": 17, "bbox": [8, 6, 32, 24], "iscrowd": 0,
                 "area": 500.0},
                {"id": 2, "image_id": 42, "category_id": 3, "bbox": [20, 30, 60, 30], "iscrowd": 0},
                {"id": 3, "image_id": 7, "category_id": 90, "bbox": [0, 0, 40, 20], "iscrowd": 1}]}
    (root / "annotations").mkdir(parents=True)
    path = root / "annotations" / "instances_train2017.json"
    path.write_text(json.dumps(data))
    return path


def voc_object(name: str, box, difficult: int = 0) -> str:
    x1, y1, x2, y2 = box
    return (f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
            f"<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
            "</bndbox></object>")


def make_voc(root: Path, names_file: bool = True) -> Path:
    write_image(root / "JPEGImages" / "a.png", 80, 60)
    write_image(root / "JPEGImages" / "b.png", 40, 40)
    (root / "Annotations").mkdir(parents=True)
    # VOC corners are 1-based: pixel box [8, 6, 40, 30] is written xmin=9 ... xmax=41
    objs = "".join(voc_object(NAMES[c], [int(v) + 1 for v in b]) for c, b in zip(A_LABELS, A_BOXES))
    (root / "Annotations" / "a.xml").write_text(
        f"<annotation><filename>a.png</filename><size><width>80</width><height>60</height>"
        f"<depth>3</depth></size>{objs}</annotation>")
    (root / "Annotations" / "b.xml").write_text(
        "<annotation><filename>b.png</filename><size><width>40</width><height>40</height></size>"
        + voc_object("emu", [1, 1, 41, 21], difficult=1) + "</annotation>")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\nb\n")
    (root / "ImageSets" / "Main" / "val.txt").write_text("b\n")
    if names_file:
        (root / "labels.txt").write_text("cat\ndog\nemu\n")
    return root


def test_yolo_reader(tmp_path):
    ds = load_dataset(make_yolo(tmp_path / "y"))
    assert ds.names == NAMES and len(ds) == 2
    s = ds[0]
    assert s.path.endswith("a.png") and s.image.shape == (60, 80, 3) and s.image.dtype == np.uint8
    assert tuple(s.image[0, 0]) == (200, 20, 10)  # written BGR (10, 20, 200) -> RGB
    np.testing.assert_allclose(s.boxes, A_BOXES, atol=1e-3)
    assert s.labels.tolist() == A_LABELS.tolist() and s.labels.dtype == np.int64
    assert len(ds[1].boxes) == 0 and ds[1].boxes.shape == (0, 4)
    val = load_dataset(tmp_path / "y", "val")
    # c.png 50x50, "0.5 0.5 0.2 0.4": x 0.5±0.1, y 0.5±0.2 of 50 px
    np.testing.assert_allclose(val[0].boxes, [[20, 15, 30, 35]], atol=1e-3)


def test_darknet_reader(tmp_path):
    ds = load_dataset(make_darknet(tmp_path / "d"))
    assert ds.format == "darknet" and ds.names == NAMES and len(ds) == 2
    np.testing.assert_allclose(ds[0].boxes, A_BOXES, atol=1e-3)
    assert ds.annotations(1).image_size == (40, 40) and len(ds.annotations(1).boxes) == 0
    assert len(load_dataset(tmp_path / "d" / "obj.data", "val")) == 1


def test_coco_reader(tmp_path):
    ds = load_dataset(make_coco(tmp_path / "c"))
    assert ds.names == NAMES and ds.category_ids == [3, 17, 90] and ds.image_ids == [42, 7]
    s = ds[0]
    np.testing.assert_allclose(s.boxes, A_BOXES, atol=1e-4)
    assert s.labels.tolist() == [1, 0]
    crowd = ds[1]  # evaluation view keeps the crowd box
    assert crowd.iscrowd.tolist() == [True] and crowd.labels.tolist() == [2]
    assert len(ds.for_training()[1].boxes) == 0 and len(ds.for_training()[0].boxes) == 2
    t = ds.targets(1)  # Evaluator target without decoding the image
    assert t["image_id"] == 7 and t["image_size"] == (40, 40)
    assert t["iscrowd"].tolist() == [True] and t["boxes"].tolist() == [[0, 0, 40, 20]]
    assert ds.targets(0)["area"].tolist() == [500, 60 * 30]  # segment area kept, else box area
    # a directory with annotations/ is recognised too
    assert detect_format(tmp_path / "c")[0] == "coco"
    assert len(load_dataset(tmp_path / "c", "train")) == 2


def test_voc_reader(tmp_path):
    ds = load_dataset(make_voc(tmp_path / "v"))
    assert ds.format == "voc" and ds.names == NAMES and ds.image_ids == ["a", "b"]
    np.testing.assert_allclose(ds[0].boxes, A_BOXES)
    b = ds.annotations(1)
    assert b.difficult.tolist() == [True] and b.boxes.tolist() == [[0, 0, 40, 20]]
    assert len(ds.for_training()[1].boxes) == 0
    assert len(load_dataset(tmp_path / "v", "val")) == 1


def test_voc_names_default_order(tmp_path):
    root = make_voc(tmp_path / "v", names_file=False)
    for xml in (root / "Annotations").glob("*.xml"):  # use real VOC class names
        xml.write_text(xml.read_text().replace(">cat<", ">person<").replace(">dog<", ">bus<")
                       .replace(">emu<", ">aeroplane<"))
    ds = load_dataset(root)
    assert len(ds.names) == 20 and ds.names[0] == "aeroplane" and ds.names[14] == "person"
    assert ds[0].labels.tolist() == [5, 14]  # dog->bus (5), cat->person (14)


def test_unknown_dataset(tmp_path):
    from yolov4.errors import DataError
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="x.txt"):
        load_dataset(tmp_path / "x.txt")
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "nope")


MAKERS = {"yolo": make_yolo, "darknet": make_darknet, "coco": make_coco, "voc": make_voc}


@pytest.mark.parametrize("source", sorted(MAKERS))
@pytest.mark.parametrize("target", ["yolo", "coco", "voc"])
def test_convert_round_trip(tmp_path, source, target):
    src_path = MAKERS[source](tmp_path / "src")
    src = load_dataset(src_path)
    report = convert(src_path, target, tmp_path / "out")
    out = load_dataset(report.path)
    assert out.names == src.names and len(out) == len(src)
    back = load_dataset(convert(report.path, source if source != "darknet" else "yolo",
                                tmp_path / "back").path)
    for ds in (out, back):
        for i in range(len(src)):
            a, b = src.annotations(i), ds.annotations(i)
            keep = ~a.iscrowd if target == "yolo" else np.ones(len(a.labels), bool)
            assert b.image_size == a.image_size
            assert b.labels.tolist() == a.labels[keep].tolist()
            assert np.abs(b.boxes - a.boxes[keep]).max(initial=0) <= 0.5
            np.testing.assert_array_equal(ds[i].image, src[i].image)  # bytes copied
    assert report.images["train"] == 2


def test_voc_round_trip_rounds_within_half_pixel(tmp_path):
    root = make_coco(tmp_path / "c")
    data = json.loads(root.read_text())
    data["annotations"][0]["bbox"] = [8.3, 6.7, 31.6, 23.2]  # fractional pixels
    root.write_text(json.dumps(data))
    out = load_dataset(convert(root, "voc", tmp_path / "v", splits=["train"]).path)
    np.testing.assert_allclose(out.annotations(0).boxes[0], [8, 7, 40, 30])  # rounded edges


def test_yolo_split_as_list_file_and_list(tmp_path):
    root = tmp_path / "y"
    make_yolo(root)
    (root / "train.txt").write_text("./images/train/a.png\nimages/val/c.png\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: train.txt\n"
                                    "val: [images/train, images/val]\nnames: [cat, dog, emu]\n")
    train, val = load_dataset(root), load_dataset(root, "val")
    assert [p.rsplit("/", 1)[-1] for p in train.paths] == ["a.png", "c.png"]
    assert len(val) == 3 and train[1].labels.tolist() == [2]


def test_cache_and_voc_names_argument(tmp_path):
    ds = load_dataset(make_yolo(tmp_path / "y"), cache_images=True)
    assert ds.load_image(0) is ds.load_image(0)
    voc = load_dataset(make_voc(tmp_path / "v", names_file=False), names=["emu", "dog", "cat"])
    assert voc[0].labels.tolist() == [1, 2]  # dog, cat in the given order


def test_cli_convert(tmp_path, capsys):
    from yolov4.cli import main
    src = make_voc(tmp_path / "v")
    assert main(["data", "convert", str(src), "--to", "coco", "--out", str(tmp_path / "c")]) == 0
    assert "train: 2 images, 3 boxes" in capsys.readouterr().out
    assert load_dataset(tmp_path / "c").names == NAMES
    with pytest.raises(SystemExit):  # argparse rejects an unknown target
        main(["data", "convert", str(src), "--to", "xml", "--out", str(tmp_path / "x")])
    assert main(["data", "convert", str(tmp_path / "nope"), "--to", "yolo", "--out",
                 str(tmp_path / "x")]) == 2  # one-line DataError
