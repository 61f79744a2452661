"""Which levers make a short fine-tune learn? One run per lever set, all else Darknet's recipe.

How the default recipe (hyp.yaml's ``recipe_default``) was chosen: yolov4-tiny from the official
COCO weights on the digits photos (``benchmarks/digits_dataset.py``, 10 classes, new heads),
batch 16 at 320x320, ``--iterations`` updates (150: half the target schedule, to screen many
sets), validated once at the end on the 200 held-out images. Each set is ``recipe=darknet`` (the
cfg's values) plus the listed keys, so each row shows what its keys add; sets build on the best
one before them. One seed per set: differences below ~0.03 mAP are within run-to-run noise.

    python benchmarks/recipe_levers.py --data runs/digits/data.yaml [--only NAME,...]
        [--iterations 150] [--out runs/recipe_levers]

Results are appended to ``OUT/results.jsonl`` (one line per run) and printed as a table.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from yolov4.engine.api import train

WEIGHTS = Path(__file__).resolve().parent.parent.parent / "shared" / "darknet" / "weights" / \
    "yolov4-tiny.weights"
#: Darknet's burn-in replaced by a linear warm-up over 10 % and one cosine (sgdr).
SCHEDULE = {"power": 1, "burn_in": 15, "policy": "sgdr", "learning_rate_min": 0.00005}
ADAM = {"power": 1, "burn_in": 15, "policy": "sgdr", "learning_rate_min": 0.00001, "adam": 1,
        "learning_rate": 0.001}
PRIOR = {"obj_prior": 0.01}
LESS_AUG = {"jitter": 0.1, "resize": 1.0}
THRESH = {"iou_thresh": 0.213}

LEVERS: List[Tuple[str, Dict[str, Any]]] = [
    ("darknet recipe + obj_prior .01", dict(PRIOR)),
    ("+ linear warm-up, cosine", dict(PRIOR, **SCHEDULE)),
    ("+ lr .01 (SGD)", dict(PRIOR, **SCHEDULE, learning_rate=0.01)),
    ("+ iou_normalizer .3", dict(PRIOR, **SCHEDULE, iou_normalizer=0.3)),
    ("+ flip 0", dict(PRIOR, **SCHEDULE, flip=0)),
    ("+ jitter .1, resize 1", dict(PRIOR, **SCHEDULE, **LESS_AUG)),
    ("+ iou_thresh .213", dict(PRIOR, **SCHEDULE, **THRESH)),
    ("Adam lr .001 (instead of SGD)", dict(PRIOR, **ADAM)),
    ("Adam lr .0005", dict(PRIOR, **ADAM, learning_rate=0.0005)),
    ("Adam lr .002", dict(PRIOR, **ADAM, learning_rate=0.002)),
    ("Adam + mosaic", dict(PRIOR, **ADAM, mosaic=1)),
    ("Adam + iou_thresh .213", dict(PRIOR, **ADAM, **THRESH)),
    ("Adam + iou_thresh .05", dict(PRIOR, **ADAM, iou_thresh=0.05)),
    ("Adam + iou_thresh + freeze_loaded 20", dict(PRIOR, **ADAM, **THRESH, freeze_loaded=20)),
    ("Adam + iou_thresh + resize 1", dict(PRIOR, **ADAM, **THRESH, resize=1.0)),
    ("Adam + iou_thresh + jitter .1, resize 1", dict(PRIOR, **ADAM, **THRESH, **LESS_AUG)),
    ("  + obj_normalizer .3", dict(PRIOR, **ADAM, **THRESH, **LESS_AUG, obj_normalizer=0.3)),
    ("  + obj_normalizer .1", dict(PRIOR, **ADAM, **THRESH, **LESS_AUG, obj_normalizer=0.1)),
    ("  + obj_normalizer .3, cls_prior auto", dict(PRIOR, **ADAM, **THRESH, **LESS_AUG,
                                                   obj_normalizer=0.3, cls_prior="auto")),
    ("  + obj_normalizer .3, lr .002", dict(PRIOR, **ADAM, **THRESH, **LESS_AUG,
                                            obj_normalizer=0.3, learning_rate=0.002)),
    ("  + obj_normalizer .3, iou_normalizer .15", dict(PRIOR, **ADAM, **THRESH, **LESS_AUG,
                                                       obj_normalizer=0.3, iou_normalizer=0.15)),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="runs/digits/data.yaml")
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--only", default="", help="comma-separated row numbers (1-based)")
    ap.add_argument("--out", default="runs/recipe_levers")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [int(k) for k in args.only.split(",") if k] or range(1, len(LEVERS) + 1)
    print("| # | levers | mAP@0.5 | AP | min |\n|---|---|---|---|---|")
    for k in rows:
        name, keys = LEVERS[k - 1]
        t = time.perf_counter()
        res = train(data=args.data, model="yolov4-tiny", weights=str(WEIGHTS), recipe="darknet",
                    max_batches=args.iterations, batch=16, size=320, eval_interval=0, plots=0,
                    out=out / f"run{k}", verbose=False, log=lambda s: None, **keys)
        row = {"k": k, "levers": name, "keys": keys, "mAP50": res.metrics["darknet.mAP50"],
               "AP": res.metrics["coco.AP"], "minutes": (time.perf_counter() - t) / 60}
        with (out / "results.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"| {k} | {name} | {row['mAP50']:.4f} | {row['AP']:.4f} | {row['minutes']:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
