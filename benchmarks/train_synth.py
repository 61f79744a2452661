"""Training on the built-in synthetic shapes dataset: a small YOLOv4 from scratch, and yolov4-tiny
fine-tuned from the shared COCO weights versus from scratch at equal steps.

The small model is the demo's recipe (``yolov4.engine.demo.RECIPE``: YOLOv4-tiny at half width,
3300 training images drawn at 192 px, ``iou_thresh=0.213``) trained for 10 epochs instead of 6.
Targets (issue 6): the small YOLOv4 reaches mAP@0.5 >= 0.9 on the held-out split within 10
minutes on a 2-core CPU (the minutes column counts everything: data generation, training,
periodic validation, drawing); fine-tuning beats scratch at equal steps. Prints one table with
the final numbers of every run and its mAP@0.5 curve (mAP@0.5 = Darknet ``detector map``; AP =
COCO AP@[.5:.95], pycocotools semantics).

    python benchmarks/train_synth.py [--out runs/bench_synth] [--epochs 10] [--ft-epochs 1]
        [--seed 0] [--skip-scratch] [--skip-finetune] [--shared ../shared/darknet]
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

from yolov4.engine.api import train
from yolov4.engine.demo import RECIPE, run_demo

HERE = Path(__file__).resolve().parent


def small_yolov4(out: Path, epochs: int, seed: int = 0) -> dict:
    recipe = copy.deepcopy(RECIPE)
    recipe["train"]["epochs"] = epochs
    recipe["train"]["seed"] = seed
    recipe["train"]["eval_interval"] = 2
    t = time.perf_counter()
    res = run_demo(out, recipe=recipe, verbose=False, log=lambda s: None)["result"]
    m = recipe["model"]
    return {"run": f"{m['name']} w{m.get('width_multiple', 1)} d{m.get('depth_multiple', 1)} "
                   f"scratch", "iterations": res.iterations, "minutes": (time.perf_counter() - t) / 60,
            "mAP50": res.metrics.get("darknet.mAP50", 0.0), "AP": res.metrics.get("coco.AP", 0.0),
            "curve": [(r["iteration"], r.get("mAP50")) for r in res.history if r.get("mAP50") is not None]}


def tiny(out: Path, data: Path, weights, epochs: int, label: str) -> dict:
    from yolov4.data.formats import load_dataset
    from yolov4.engine.demo import _anchors
    hyp = dict(RECIPE["train"], epochs=epochs, eval_interval=max(1, epochs // 3))
    anchors = _anchors(load_dataset(data, "train"), int(hyp["size"]), 6)
    t = time.perf_counter()
    res = train(data=str(data), model="yolov4-tiny", weights=weights, out=out, verbose=False,
                log=lambda s: None, model_kwargs={"anchors": anchors}, **hyp)
    return {"run": label, "iterations": res.iterations, "minutes": (time.perf_counter() - t) / 60,
            "mAP50": res.metrics.get("darknet.mAP50", 0.0), "AP": res.metrics.get("coco.AP", 0.0),
            "curve": [(r["iteration"], r.get("mAP50")) for r in res.history if r.get("mAP50") is not None]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/bench_synth")
    ap.add_argument("--epochs", type=int, default=10,
                    help="epochs of the small model from scratch (the demo recipe trains 6)")
    ap.add_argument("--ft-epochs", type=int, default=1, help="epochs of each yolov4-tiny run")
    ap.add_argument("--seed", type=int, default=0,
                    help="training seed of the scratch run (initialisation, data order, "
                         "augmentation); the dataset stays the same")
    ap.add_argument("--shared", default=str(HERE.parent.parent / "shared" / "darknet"))
    ap.add_argument("--skip-scratch", action="store_true")
    ap.add_argument("--skip-finetune", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    rows = []
    if not args.skip_scratch:
        rows.append(small_yolov4(out / "small_yolov4", args.epochs, args.seed))
        print(rows[-1], flush=True)
    if not args.skip_finetune:
        data = out / "small_yolov4" / "data" / "data.yaml"
        if not data.exists():                       # the dataset of the demo recipe
            from yolov4.data.synth import generate
            data = generate(out / "data", **RECIPE["data"])
        weights = Path(args.shared) / "weights" / "yolov4-tiny.weights"
        if weights.exists():
            rows.append(tiny(out / "tiny_finetune", data, weights, args.ft_epochs,
                             "yolov4-tiny from COCO weights"))
            print(rows[-1], flush=True)
        else:
            print(f"{weights} missing: fine-tuning skipped")
        rows.append(tiny(out / "tiny_scratch", data, None, args.ft_epochs, "yolov4-tiny scratch"))
        print(rows[-1], flush=True)
    print()
    print(f"{'run':<34}{'iterations':>11}{'minutes':>9}{'mAP@0.5':>9}{'AP':>8}  mAP@0.5 curve")
    for r in rows:
        curve = " ".join(f"{it}:{m:.2f}" for it, m in r["curve"])
        print(f"{r['run']:<34}{r['iterations']:>11}{r['minutes']:>9.1f}{r['mAP50']:>9.3f}"
              f"{r['AP']:>8.3f}  {curve}")
    scratch = [r for r in rows if r["run"].endswith(" scratch") and "w0.5" in r["run"]]
    if scratch:
        r = scratch[0]
        met = r["mAP50"] >= 0.9 and r["minutes"] <= 10
        print(f"\ntarget (mAP@0.5 >= 0.9 within 10 min, from scratch): "
              f"{'met' if met else 'NOT met'} ({r['mAP50']:.3f} in {r['minutes']:.1f} min)")


if __name__ == "__main__":
    main()
