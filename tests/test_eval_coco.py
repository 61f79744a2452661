"""COCO family: every summary number equals pycocotools run on the same detections (the oracle)."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from yolov4.eval.coco import STAT_KEYS
from yolov4.eval.evaluator import Evaluator

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

NC = 6  # class 4 never in the ground truth, class 5 never predicted


def _random_boxes(rng, n, w, h):
    """xyxy float64 boxes spanning small (< 32^2), medium and large (> 96^2) areas."""
    side = np.array([rng.choice([rng.uniform(4, 30), rng.uniform(35, 90), rng.uniform(100, 300)])
                     for _ in range(n)])
    aspect = rng.uniform(0.5, 2.0, n)
    bw, bh = side * aspect, side / aspect
    x1 = rng.uniform(0, w - 40, n)
    y1 = rng.uniform(0, h - 40, n)
    return np.stack([x1, y1, x1 + bw, y1 + bh], 1)


def make_case(seed: int = 0, n_images: int = 40):
    """Per-image ground truth and detections with crowds, empty images and >100 detections."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        w, h = 640, 480
        ng = 0 if i % 7 == 3 else int(rng.integers(1, 12))
        gb = _random_boxes(rng, ng, w, h)
        gl = rng.choice([0, 1, 2, 3, 5], ng)
        crowd = rng.random(ng) < 0.12
        dets = []
        if i % 9 != 4:  # some images without predictions
            for j in range(ng):  # noisy copies of the truths (sometimes the wrong class)
                for _ in range(int(rng.integers(0, 3))):
                    b = gb[j] + rng.normal(0, 0.08 * (gb[j, 2] - gb[j, 0]) + 1, 4)
                    c = gl[j] if rng.random() < 0.85 else int(rng.integers(0, NC - 1))
                    dets.append((b, c))
            n_fp = 130 if i == 5 else int(rng.integers(0, 15))  # image 5 exceeds maxDets 100
            for b in _random_boxes(rng, n_fp, w, h):
                dets.append((b, int(rng.integers(0, NC - 1))))  # class 4: no ground truth
        db = np.array([d[0] for d in dets]).reshape(-1, 4)
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
        dl = np.array([d[1] for d in dets], np.int64)
        ds = rng.random(len(dets))
        if len(ds) > 3:
            ds[1] = ds[2]  # a tie
        images.append(dict(id=100 + i, size=(h, w), gb=gb, gl=gl, crowd=crowd, db=db, ds=ds,
                           dl=dl))
    return images


def oracle_stats(images, areas=None):
    """pycocotools on COCO dicts built here from the same float64 xyxy numbers."""
    anns, res = [], []
    for k, im in enumerate(images):
        for j, (b, c, z) in enumerate(zip(im["gb"], im["gl"], im["crowd"])):
            w, h = b[2] - b[0], b[3] - b[1]
            area = float(areas[k][j]) if areas is not None else float(w * h)
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": int(c) + 1,
                         "bbox": [float(b[0]), float(b[1]), float(w), float(h)],
                         "area": area, "iscrowd": int(z)})
        for b, s, c in zip(im["db"], im["ds"], im["dl"]):
            res.append({"image_id": im["id"], "category_id": int(c) + 1, "score": float(s),
                        "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    dataset = {"images": [{"id": im["id"], "height": im["size"][0], "width": im["size"][1]}
                          for im in images],
               "annotations": anns, "categories": [{"id": c + 1} for c in range(NC)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes(res)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def run_evaluator(images, backend, areas=None, batch=7):
    ev = Evaluator([f"c{c}" for c in range(NC)], backend=backend)
    for s in range(0, len(images), batch):
        chunk = images[s:s + batch]
        preds = [{"boxes": torch.from_numpy(im["db"]), "scores": torch.from_numpy(im["ds"]),
                  "labels": torch.from_numpy(im["dl"])} for im in chunk]
        tgts = [{"boxes": torch.from_numpy(im["gb"]), "labels": torch.from_numpy(im["gl"]),
                 "iscrowd": torch.from_numpy(im["crowd"]), "image_size": im["size"],
                 "image_id": im["id"]} for im in chunk]
        if areas is not None:
            for t, k in zip(tgts, range(s, s + len(chunk))):
                t["area"] = areas[k]
        ev.process(preds, tgts)
    return ev.summarize(), ev


BACKENDS = ["pycocotools"]
try:
    import faster_coco_eval  # noqa: F401
except ImportError:  # pragma: no cover
    pass
else:
    BACKENDS.append("faster_coco_eval")


@pytest.mark.parametrize("backend", BACKENDS)
def test_summary_identical_to_pycocotools(backend):
    images = make_case(0)
    # the case covers what the acceptance asks for
    assert any(im["crowd"].any() for im in images)
    assert any(len(im["gb"]) == 0 for im in images) and any(len(im["db"]) == 0 for im in images)
    areas = np.concatenate([(im["gb"][:, 2] - im["gb"][:, 0]) * (im["gb"][:, 3] - im["gb"][:, 1])
                            for im in images])
    assert (areas < 32 ** 2).any() and ((areas > 32 ** 2) & (areas < 96 ** 2)).any() \
        and (areas > 96 ** 2).any()
    ref = oracle_stats(images)
    got, ev = run_evaluator(images, backend)
    assert ev.coco_result.backend == backend
    for key, want in zip(STAT_KEYS, ref.stats):
        assert got[f"coco.{key}"] == pytest.approx(want, abs=1e-9), key
    assert 0 < got["coco.AP"] < 1 and got["coco.APs"] >= 0 and got["coco.ARl"] > 0
    # per class: mean precision over IoUs and recall points, area all, maxDets 100
    p = ref.eval["precision"][:, :, :, 0, -1]
    for c in range(NC):
        v = p[:, :, c]
        want = float(v[v > -1].mean()) if (v > -1).any() else -1.0
        assert got[f"coco.AP/c{c}"] == pytest.approx(want, abs=1e-9)
    assert got["coco.AP/c4"] == -1.0  # no ground truth of class 4: pycocotools' -1


def test_custom_areas_drive_the_area_ranges():
    """A ground-truth ``area`` (COCO's segmentation area) replaces the box area, as in COCO."""
    images = make_case(1, n_images=15)
    rng = np.random.default_rng(5)
    areas = [rng.uniform(10, 20000, len(im["gb"])) for im in images]
    ref = oracle_stats(images, areas)
    got, _ = run_evaluator(images, "pycocotools", areas=areas)
    for key, want in zip(STAT_KEYS, ref.stats):
        assert got[f"coco.{key}"] == pytest.approx(want, abs=1e-9), key


def test_batching_does_not_change_results():
    images = make_case(2, n_images=12)
    a, _ = run_evaluator(images, "pycocotools", batch=1)
    b, _ = run_evaluator(images, "pycocotools", batch=12)
    assert a == b


def test_float32_inputs_match_the_oracle_fed_the_same_float32_values():
    images = make_case(3, n_images=10)
    for im in images:  # what a model would emit: float32 tensors
        for k in ("gb", "db"):
            im[k] = im[k].astype(np.float32).astype(np.float64)
    ref = oracle_stats(images)
    f32 = [dict(im, gb=im["gb"].astype(np.float32), db=im["db"].astype(np.float32))
           for im in images]
    got, _ = run_evaluator(f32, "pycocotools")
    for key, want in zip(STAT_KEYS, ref.stats):
        assert got[f"coco.{key}"] == pytest.approx(want, abs=1e-9), key
