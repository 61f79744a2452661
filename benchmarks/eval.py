"""Benchmark: evaluate N images x D detections with pycocotools, faster-coco-eval and Evaluator.

All three run in the same process on the same seeded synthetic data (80 classes, 0-14 truths
per image, 2% crowds, half the detections noisy copies of truths). The libraries get the usual
inputs (a COCO dict and a list of result dicts -> ``loadRes`` -> evaluate/accumulate/
summarize); the Evaluator gets per-image tensors (``process`` in batches of 32, then
``summarize``, which computes the COCO *and* the Darknet family). Prints seconds and the ratio
to faster-coco-eval, and checks the 12 COCO numbers agree.

    python benchmarks/eval.py [--images 5000] [--dets 100] [--skip-pycocotools] [--repeat 2]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import time

import numpy as np
import torch


def make_data(n_images: int, n_dets: int, n_cls: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    images, anns, res, per_image = [], [], [], []
    for i in range(n_images):
        w, h = 640, 480
        images.append({"id": i + 1, "width": w, "height": h})
        ng = int(rng.integers(0, 15))
        gxy = rng.uniform(0, 500, (ng, 2))
        gwh = rng.uniform(4, 200, (ng, 2))
        gcl = rng.integers(0, n_cls, ng)
        crowd = rng.random(ng) < 0.02
        copy_of = rng.integers(0, max(ng, 1), n_dets)
        noisy = (rng.random(n_dets) < 0.5) & (ng > 0)
        dxy = np.where(noisy[:, None], gxy[copy_of % max(ng, 1)] if ng else 0, 0) \
            + np.where(noisy[:, None], rng.normal(0, 8, (n_dets, 2)),
                       rng.uniform(0, 500, (n_dets, 2)))
        dwh = np.where(noisy[:, None], (gwh[copy_of % max(ng, 1)] if ng else 1)
                       + rng.normal(0, 8, (n_dets, 2)), rng.uniform(4, 200, (n_dets, 2)))
        dwh = np.abs(dwh) + 1
        keep_cls = rng.random(n_dets) < 0.8
        dcl = np.where(noisy & keep_cls, gcl[copy_of % max(ng, 1)] if ng else 0,
                       rng.integers(0, n_cls, n_dets))
        score = rng.random(n_dets)
        for k in range(ng):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(gcl[k]) + 1,
                         "bbox": [*map(float, gxy[k]), *map(float, gwh[k])],
                         "area": float(gwh[k, 0] * gwh[k, 1]), "iscrowd": int(crowd[k])})
        gxyxy = np.concatenate([gxy, gxy + gwh], 1)
        dxyxy = np.concatenate([dxy, dxy + dwh], 1)
        for k in range(n_dets):  # xywh recomputed from xyxy as the Evaluator does
            b = dxyxy[k]
            res.append({"image_id": i + 1, "category_id": int(dcl[k]) + 1, "score": float(score[k]),
                        "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
        per_image.append(({"boxes": torch.from_numpy(dxyxy), "scores": torch.from_numpy(score),
                           "labels": torch.from_numpy(dcl.astype(np.int64))},
                          {"boxes": torch.from_numpy(gxyxy), "labels": torch.from_numpy(gcl),
                           "iscrowd": torch.from_numpy(crowd), "image_size": (h, w),
                           "area": torch.from_numpy(gwh[:, 0] * gwh[:, 1]),
                           "image_id": i + 1}))
        for k, a in enumerate(anns[len(anns) - ng:]):  # ground truth xywh from xyxy too
            a["bbox"] = [float(gxyxy[k, 0]), float(gxyxy[k, 1]), float(gxyxy[k, 2] - gxyxy[k, 0]),
                         float(gxyxy[k, 3] - gxyxy[k, 1])]
    cats = [{"id": c + 1, "name": str(c)} for c in range(n_cls)]
    return {"images": images, "annotations": anns, "categories": cats}, res, per_image


def run_library(name: str, gt: dict, res: list):
    if name == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as Eval
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as Eval
    gt, res = copy.deepcopy(gt), copy.deepcopy(res)  # loadRes mutates; not timed
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO()
        g.dataset = gt
        g.createIndex()
        d = g.loadRes(res)
        e = Eval(g, d, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return time.perf_counter() - t, np.asarray(e.stats[:12])


def run_evaluator(per_image, n_cls: int = 80, **kwargs):
    from yolov4.eval.evaluator import Evaluator

    t = time.perf_counter()
    ev = Evaluator([str(c) for c in range(n_cls)], **kwargs)
    for s in range(0, len(per_image), 32):
        chunk = per_image[s:s + 32]
        ev.process([p for p, _ in chunk], [g for _, g in chunk])
    m = ev.summarize()
    stats = np.array([m.get(f"coco.{k}", np.nan) for k in
                      ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100",
                       "ARs", "ARm", "ARl")])
    return time.perf_counter() - t, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--skip-pycocotools", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (pycocotools: 1)")
    args = ap.parse_args()
    gt, res, per_image = make_data(args.images, args.dets)
    print(f"{args.images} images, {len(res)} detections, {len(gt['annotations'])} truths")
    # The runs are interleaved (fce, Evaluator, ... per repetition) so that they share the
    # machine's load alike; each row keeps its best time.
    runs = {"faster-coco-eval (loadRes+eval)": lambda: run_library("faster_coco_eval", gt, res),
            "Evaluator COCO+Darknet (auto)": lambda: run_evaluator(per_image),
            "Evaluator COCO only (auto)": lambda: run_evaluator(per_image, darknet=False),
            "Evaluator Darknet only": lambda: run_evaluator(per_image, coco=False)}
    best = {}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            gc.collect()
            t, stats = fn()
            if name not in best or t < best[name][0]:
                best[name] = (t, stats)
    if not args.skip_pycocotools:
        gc.collect()
        best["pycocotools (loadRes+eval)"] = run_library("pycocotools", gt, res)
    t_fce, s_fce = best["faster-coco-eval (loadRes+eval)"]
    rows = [(name, t, stats) for name, (t, stats) in best.items()]
    print(f"{'run':<34} {'seconds':>8} {'x fce':>7}  max |COCO stat diff| vs fce")
    for name, t, stats in rows:
        diff = np.nanmax(np.abs(stats - s_fce)) if not np.isnan(stats).all() else float("nan")
        print(f"{name:<34} {t:8.2f} {t / t_fce:7.2f}  {diff:.1e}")


if __name__ == "__main__":
    main()
