"""``yolov4 val`` end to end: shared yolov4-tiny COCO weights on a hand-labelled YOLO-layout set.

The labels are written here by hand (pixel boxes read off the photos), independent of the model.
"""
from __future__ import annotations

import json
import shutil

import pytest

from yolov4.cli import main

# Hand-drawn boxes, xyxy pixels, class names from coco.names.
HAND_BOXES = {
    "dog.jpg": ((768, 576), [("dog", (132, 222, 310, 540)), ("bicycle", (125, 135, 566, 420)),
                             ("truck", (466, 75, 690, 170))]),
    "person.jpg": ((640, 424), [("person", (190, 100, 275, 375)), ("dog", (65, 263, 202, 345)),
                                ("horse", (405, 140, 602, 345))]),
}


@pytest.fixture(scope="module")
def labelled_set(shared_darknet, tmp_path_factory):
    """A YOLO layout (data.yaml, images/val, labels/val) with the 80 COCO names."""
    root = tmp_path_factory.mktemp("handset")
    names = (shared_darknet / "coco.names").read_text().split("\n")
    names = [n.strip() for n in names if n.strip()]
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for fname, ((w, h), objs) in HAND_BOXES.items():
        shutil.copy(shared_darknet / "images" / fname, root / "images" / "val" / fname)
        lines = [f"{names.index(c)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                 f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}" for c, (x1, y1, x2, y2) in objs]
        (root / "labels" / "val" / fname.replace(".jpg", ".txt")).write_text("\n".join(lines))
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/val\nval: images/val\nnames: [" +
        ", ".join(json.dumps(n) for n in names) + "]\n")
    return root


@pytest.fixture(scope="module")
def model_run(labelled_set, shared_darknet, tmp_path_factory):
    out = tmp_path_factory.mktemp("valout")
    w = shared_darknet / "weights"
    code = main(["val", "--data", str(labelled_set / "data.yaml"),
                 "--model", str(w / "yolov4-tiny.cfg"), "--weights", str(w / "yolov4-tiny.weights"),
                 "--json", str(out / "metrics.json"), "--save-preds", str(out / "preds.json"),
                 "--plots", str(out / "plots"), "--quiet",
                 "--conf", "0.005", "--iou", "0.45"])  # detector map's thresholds: fewer boxes
    assert code == 0
    return out


def test_model_run_reports_nonzero_ap(model_run, capsys):
    m = json.loads((model_run / "metrics.json").read_text())
    assert m["coco.AP"] > 0.1 and m["coco.AP50"] > 0.3
    assert m["darknet.mAP50"] > 0  # mean over all 80 classes, most without truths
    # 6 hand-labelled objects; the tiny model finds dog/bicycle/truck/person/dog/horse
    assert m["darknet.recall"] >= 0.5 and 0 < m["darknet.precision"] <= 1
    assert m["darknet.AP50/dog"] > 0.5
    assert all(-1 <= v <= 1 for v in m.values())
    for name in ("PR_curve.png", "F1_curve.png", "confusion_matrix.png"):
        data = (model_run / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_saved_preds_give_the_same_metrics(model_run, labelled_set, tmp_path):
    entries = json.loads((model_run / "preds.json").read_text())
    assert entries and {"file_name", "category_id", "bbox", "score"} <= set(entries[0])
    assert "image_id" not in entries[0]  # YOLO layout: images are named by file_name
    code = main(["val", "--data", str(labelled_set / "data.yaml"),
                 "--preds", str(model_run / "preds.json"), "--json", str(tmp_path / "m.json")])
    assert code == 0
    a = json.loads((model_run / "metrics.json").read_text())
    b = json.loads((tmp_path / "m.json").read_text())
    assert a.keys() == b.keys()
    for k in a:  # boxes were rounded to 1e-3 px in the file
        assert b[k] == pytest.approx(a[k], abs=1e-3), k


def test_preds_with_unknown_image_or_class_is_a_clear_error(labelled_set, tmp_path, capsys):
    data = str(labelled_set / "data.yaml")
    bad = tmp_path / "bad.json"
    cases = [
        ([{"file_name": "cat.jpg", "category_id": 0, "bbox": [0, 0, 1, 1], "score": .5}],
         "unknown file_name 'cat.jpg'"),
        ([{"file_name": "dog.jpg", "category_id": 80, "bbox": [0, 0, 1, 1], "score": .5}],
         "unknown class index 80"),
        ([{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": .5}],
         "unknown image_id 99"),
        ([{"file_name": "dog.jpg", "category_id": 1, "bbox": [0, 0, 1], "score": .5}], "bbox"),
    ]
    for entries, message in cases:
        bad.write_text(json.dumps(entries))
        assert main(["val", "--data", data, "--preds", str(bad)]) == 2
        err = capsys.readouterr().err
        assert message in err and "bad.json: entry 0" in err
    bad.write_text("[{")
    assert main(["val", "--data", data, "--preds", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_empty_preds_give_zeros_and_a_warning(labelled_set, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    import yolov4

    with pytest.warns(UserWarning, match="no predictions"):
        m = yolov4.val(str(labelled_set / "data.yaml"), preds=empty, verbose=False)
    assert m["coco.AP"] == 0 and m["darknet.mAP50"] == 0 and m["darknet.F1"] == 0


def test_missing_val_split_is_a_clear_error(labelled_set, tmp_path, capsys):
    yaml = tmp_path / "data.yaml"
    text = (labelled_set / "data.yaml").read_text().replace("val: images/val\n", "")
    yaml.write_text(text.replace("path: .", f"path: {labelled_set}"))
    empty = tmp_path / "e.json"
    empty.write_text("[]")
    assert main(["val", "--data", str(yaml), "--preds", str(empty)]) == 2
    assert "no 'val' split" in capsys.readouterr().err


def test_coco_dataset_preds_by_image_id_and_category_id(shared_darknet, tmp_path):
    """A COCO json dataset: results name images by image_id and classes by COCO category id."""
    import yolov4

    (tmp_path / "images").mkdir()
    shutil.copy(shared_darknet / "images" / "dog.jpg", tmp_path / "images" / "dog.jpg")
    cats = [{"id": 2, "name": "bicycle"}, {"id": 18, "name": "dog"}, {"id": 8, "name": "truck"}]
    (w, h), objs = HAND_BOXES["dog.jpg"]
    cid = {c["name"]: c["id"] for c in cats}
    anns = [{"id": k + 1, "image_id": 139, "category_id": cid[c], "iscrowd": 0,
             "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)}
            for k, (c, (x1, y1, x2, y2)) in enumerate(objs)]
    gt = {"images": [{"id": 139, "file_name": "dog.jpg", "width": w, "height": h}],
          "annotations": anns, "categories": cats}
    (tmp_path / "instances_val.json").write_text(json.dumps(gt))
    # perfect detections for dog and truck, none for the bicycle
    res = [{"image_id": 139, "category_id": a["category_id"], "bbox": a["bbox"], "score": .9}
           for a in anns if a["category_id"] != 2]
    (tmp_path / "res.json").write_text(json.dumps(res))
    m = yolov4.val(str(tmp_path / "instances_val.json"), preds=tmp_path / "res.json",
                   verbose=False)
    # two of three classes perfect, bicycle missed: COCO AP = mean(1, 1, 0) = 2/3
    assert m["coco.AP"] == pytest.approx(2 / 3, abs=1e-9)
    assert m["coco.AP/dog"] == pytest.approx(1.0) and m["coco.AP/bicycle"] == 0
    assert m["darknet.mAP50"] == pytest.approx(2 / 3)
    assert m["darknet.recall"] == pytest.approx(2 / 3) and m["darknet.precision"] == 1


def test_help_documents_the_darknet_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["val", "--help"])
    out = capsys.readouterr().out
    assert "detector valid" in out and "detector map" in out and "0.45" in out and "0.6" in out


def test_model_or_preds_is_required(labelled_set, capsys):
    assert main(["val", "--data", str(labelled_set / "data.yaml")]) == 2
    assert "--model" in capsys.readouterr().err


def test_coco_files_end_to_end_identical_to_pycocotools(tmp_path):
    """Dataset reader + results reader + Evaluator vs pycocotools on the very same JSON files
    (float boxes, segmentation-like areas, crowds, a class without truths)."""
    import contextlib
    import io
    import warnings

    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    import yolov4

    rng = np.random.default_rng(0)
    images, anns, res = [], [], []
    cats = [{"id": i, "name": f"c{i}"} for i in (1, 3, 7, 9)]  # 9: no ground truth
    (tmp_path / "images").mkdir()
    for i in range(60):
        images.append({"id": 1000 + i, "file_name": f"{i}.jpg", "width": 640, "height": 480})
        (tmp_path / "images" / f"{i}.jpg").touch()
        for _ in range(int(rng.integers(0, 6))):
            w, h = rng.uniform(5, 250, 2)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            c = int(rng.choice([1, 3, 7]))
            box = [float(x), float(y), float(w), float(h)]
            anns.append({"id": len(anns) + 1, "image_id": 1000 + i, "category_id": c,
                         "bbox": box, "area": float(w * h * rng.uniform(0.5, 0.9)),
                         "iscrowd": int(rng.random() < 0.1)})
            for _ in range(int(rng.integers(0, 3))):
                jit = rng.normal(0, 0.1, 4) * [w, h, w, h]
                res.append({"image_id": 1000 + i, "category_id": c if rng.random() < .8 else 9,
                            "bbox": [float(v) for v in np.abs(np.add(box, jit))],
                            "score": float(rng.random())})
    (tmp_path / "instances_val.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats}))
    (tmp_path / "res.json").write_text(json.dumps(res))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reader warnings about boxes leaving images etc.
        m = yolov4.val(str(tmp_path / "instances_val.json"), preds=tmp_path / "res.json",
                       verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "instances_val.json"))
        ev = COCOeval(gt, gt.loadRes(str(tmp_path / "res.json")), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm",
            "ARl")
    for k, want in zip(keys, ev.stats):
        assert m[f"coco.{k}"] == pytest.approx(want, abs=1e-9), k
