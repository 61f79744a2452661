"""Darknet metrics vs a literal plain-Python transcription of ``validate_detector_map``'s loops.

The reference keeps Darknet's structure: per-image truth scan with strict '>' comparisons,
the difficult-removal branch, the per-image "found" scan for the threshold statistics, one
global sort, PR values for *every class at every global rank*, and the backward AUC walk /
recall-point scan. Only the detection order differs from Darknet (documented): per image by
descending score, ties stable.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolov4.eval.evaluator import Evaluator


def iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference(images, classes, iou_thresh, thresh, points):
    dets = []  # dicts: p, cls, truth_flag, unique_truth_index
    truth_count = [0] * classes
    unique = 0
    tp_t = fp_t = 0
    avg = 0.0
    for im in images:
        truths = [(b, c) for b, c, d in zip(im["gb"], im["gl"], im["diff"]) if not d]
        difs = [(b, c) for b, c, d in zip(im["gb"], im["gl"], im["diff"]) if d]
        for _, c in truths:
            truth_count[c] += 1
        checkpoint = len(dets)
        order = sorted(range(len(im["ds"])), key=lambda k: -im["ds"][k])
        for k in order:
            box, p, c = im["db"][k], im["ds"][k], im["dl"][k]
            det = {"p": p, "cls": c, "flag": 0, "uti": -1}
            dets.append(det)
            truth_index, max_iou = -1, 0.0
            for j, (tb, tc) in enumerate(truths):
                cur = iou(box, tb)
                if cur > iou_thresh and c == tc and cur > max_iou:
                    max_iou, truth_index = cur, unique + j
            if truth_index > -1:
                det["flag"], det["uti"] = 1, truth_index
            else:
                for tb, tc in difs:
                    if iou(box, tb) > iou_thresh and c == tc:
                        dets.pop()  # --detections_count
                        break
            if p > thresh:  # scan earlier detections of this image (z < count - 1)
                end = len(dets) - 1 if dets and dets[-1] is det else len(dets)
                found = any(dets[z]["uti"] == truth_index for z in range(checkpoint, end))
                if truth_index > -1 and not found:
                    avg += max_iou
                    tp_t += 1
                else:
                    fp_t += 1
        unique += len(truths)
    n = len(dets)
    order = sorted(range(n), key=lambda k: -dets[k]["p"])  # stable, like our ranking
    dets = [dets[k] for k in order]
    tp = [[0] * n for _ in range(classes)]
    fp = [[0] * n for _ in range(classes)]
    prec = [[0.0] * n for _ in range(classes)]
    rec = [[0.0] * n for _ in range(classes)]
    taken = set()
    for r, d in enumerate(dets):
        if r > 0:
            for c in range(classes):
                tp[c][r], fp[c][r] = tp[c][r - 1], fp[c][r - 1]
        if d["flag"] and d["uti"] not in taken:
            taken.add(d["uti"])
            tp[d["cls"]][r] += 1
        else:
            fp[d["cls"]][r] += 1
        for c in range(classes):
            t, f = tp[c][r], fp[c][r]
            prec[c][r] = t / (t + f) if t + f > 0 else 0.0
            rec[c][r] = t / truth_count[c] if truth_count[c] > 0 else 0.0
    aps = []
    for c in range(classes):
        ap = 0.0
        if n == 0:
            aps.append(0.0)
            continue
        if points == 0:
            last_r, last_p = rec[c][n - 1], prec[c][n - 1]
            for r in range(n - 2, -1, -1):
                delta = last_r - rec[c][r]
                last_r = rec[c][r]
                if prec[c][r] > last_p:
                    last_p = prec[c][r]
                ap += delta * last_p
            ap += last_r * last_p
        else:
            for pt in range(points):
                cur_r = pt * 1.0 / (points - 1)
                cur_p = 0.0
                for r in range(n):
                    if rec[c][r] >= cur_r and prec[c][r] > cur_p:
                        cur_p = prec[c][r]
                ap += cur_p
            ap /= points
        aps.append(ap)
    return aps, tp_t, fp_t, (avg / (tp_t + fp_t) if tp_t + fp_t else 0.0)


def random_images(seed, n_images=12, classes=4):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_images):
        ng = int(rng.integers(0, 6))
        xy = rng.integers(0, 80, (ng, 2)).astype(float)
        gb = np.concatenate([xy, xy + rng.integers(5, 30, (ng, 2))], 1)
        gl = rng.integers(0, classes - 1, ng)  # the last class never has truths
        diff = rng.random(ng) < 0.15
        db, dl = [], []
        for j in range(ng):
            for _ in range(int(rng.integers(0, 4))):
                db.append(gb[j] + rng.integers(-4, 5, 4))
                dl.append(gl[j] if rng.random() < 0.8 else int(rng.integers(0, classes)))
        for _ in range(int(rng.integers(0, 5))):
            xy = rng.integers(0, 80, 2).astype(float)
            db.append(np.r_[xy, xy + rng.integers(5, 30, 2)])
            dl.append(int(rng.integers(0, classes)))
        db = np.array(db, float).reshape(-1, 4)
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
        ds = np.round(rng.random(len(db)), 2)  # coarse scores: ties happen
        out.append(dict(gb=gb, gl=gl, diff=diff, db=db, ds=ds, dl=np.array(dl, np.int64)))
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("points", [0, 11, 101])
def test_matches_plain_python_reference(seed, points):
    classes, iou_t, thr = 4, 0.5, 0.25
    images = random_images(seed, classes=classes)
    aps, tp, fp, avg = reference(images, classes, iou_t, thr, points)
    ev = Evaluator([f"c{c}" for c in range(classes)], coco=False, points=points,
                   iou_thresh=iou_t, conf_thresh=thr)
    ev.process([{"boxes": torch.from_numpy(im["db"]), "scores": torch.from_numpy(im["ds"]),
                 "labels": torch.from_numpy(im["dl"])} for im in images],
               [{"boxes": torch.from_numpy(im["gb"]), "labels": torch.from_numpy(im["gl"]),
                 "difficult": torch.from_numpy(im["diff"]), "image_size": (120, 120)}
                for im in images])
    ev.summarize()
    r = ev.darknet_result
    np.testing.assert_allclose(r.ap, aps, atol=1e-12)
    assert r.map == pytest.approx(sum(aps) / classes, abs=1e-12)
    assert int(r.tp.sum()) == tp and int(r.fp.sum()) == fp
    assert r.avg_iou == pytest.approx(avg, abs=1e-12)
