"""Backbone pretraining on the built-in data (issue 15): classifier accuracy, transfer into the
detector, and an ablation of the backbone's bag of freebies. Not in CI.

1. **pretrain**: ``cspdarknet53-tiny`` (the yolov4-tiny backbone) at ``--width`` on the
   built-in classification crops (:mod:`yolov4.data.classify_synth`), top-1 / top-5 and minutes.
   Target: top-1 >= 0.95 within a few CPU minutes.
2. **transfer**: ``yolov4 partial`` of that classifier (27 layers) and ``yolov4-tiny`` at the same
   width trained on the built-in detection set from it versus from scratch, equal iterations
   (the demo's recipe, ``yolov4.engine.demo.RECIPE``). Target: pretrained beats scratch.
3. **ablation**: omega's CutMix and Mosaic each on (and both), label smoothing off, against the
   default classifier recipe, ``--seeds`` seeds each, shorter runs; mean ± std of the best
   top-1 and the paired mean difference to the default row.

    python benchmarks/classify.py [--out runs/bench_classify] [--images 3000] [--epochs 60]
        [--width 0.5] [--det-epochs 2] [--ablate-epochs 10] [--seeds 2]
        [--skip-transfer] [--skip-ablation]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

from yolov4.cli.partial import cut
from yolov4.data.classify_synth import generate_classes
from yolov4.engine.classify_api import train as train_classifier

#: What this benchmark sets: size, batch, validation; everything else is what a user gets
#: (hyp.yaml's ``recipe_classifier`` over the zoo cfg: Adam .005, no CutMix/Mosaic, label
#: smoothing .1 from omega's [net], crops 0.875-1.25x the width).
RECIPE = dict(size=64, batch=32, subdivisions=1, eval_interval=5)
#: Rows over the default recipe: omega's two mixes switched on, smoothing switched off.
ABLATION = {"default (smoothing .1, no mixes)": {},
            "+ cutmix": dict(cutmix=1),
            "+ mosaic": dict(mosaic=1),
            "+ cutmix + mosaic (omega's freebies)": dict(cutmix=1, mosaic=1),
            "- label smoothing": dict(label_smooth_eps=0.0)}

def pretrain(data: Path, out: Path, width: float, epochs: int, seed: int = 0, **changes) -> dict:
    hyp = dict(RECIPE, epochs=epochs, seed=seed, **changes)
    t = time.perf_counter()
    res = train_classifier(str(data), "cspdarknet53-tiny", out=out, verbose=False,
                           log=lambda s: None, model_kwargs={"width_multiple": width}, **hyp)
    return {"top1": res.metrics.get("top1", 0.0), "top5": res.metrics.get("top5", 0.0),
            "best": res.best_fitness, "iterations": res.iterations,
            "minutes": (time.perf_counter() - t) / 60, "result": res}


def detector(out: Path, data: Path, weights, width: float, epochs: int) -> dict:
    from yolov4.data.formats import load_dataset
    from yolov4.engine.api import train
    from yolov4.engine.demo import RECIPE as DEMO, _anchors
    hyp = dict(DEMO["train"], epochs=epochs, eval_interval=epochs)
    anchors = _anchors(load_dataset(data, "train"), int(hyp["size"]), 6)
    t = time.perf_counter()
    res = train(data=str(data), model="yolov4-tiny", weights=weights, out=out, verbose=False,
                log=lambda s: None, model_kwargs={"anchors": anchors, "width_multiple": width},
                **hyp)
    return {"mAP50": res.metrics.get("darknet.mAP50", 0.0), "AP": res.metrics.get("coco.AP", 0.0),
            "iterations": res.iterations, "minutes": (time.perf_counter() - t) / 60}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/bench_classify")
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--det-images", type=int, default=1200)
    ap.add_argument("--det-epochs", type=int, default=2)
    ap.add_argument("--ablate-epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--skip-transfer", action="store_true")
    ap.add_argument("--skip-ablation", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    t = time.perf_counter()
    data = generate_classes(out / "data", images=args.images, classes=5, size=64)
    gen = (time.perf_counter() - t) / 60
    p = pretrain(data, out / "pretrain", args.width, args.epochs)
    print("| run | iterations | minutes | top-1 | top-5 |\n|---|---|---|---|---|")
    print(f"| cspdarknet53-tiny w{args.width:g}, {args.images} crops (data {gen:.1f} min) | "
          f"{p['iterations']} | {p['minutes']:.1f} | {p['top1']:.4f} (best {p['best']:.4f}) | "
          f"{p['top5']:.4f} |", flush=True)
    if not args.skip_transfer:
        from yolov4.data.synth import generate
        det_data = generate(out / "det_data", images=args.det_images, classes=4, size=192,
                            val_fraction=1 / 6)
        res = p["result"]
        backbone, n, _ = cut(str(res.cfg), str(res.weights), str(out / "backbone.conv"))
        rows = [("scratch", detector(out / "det_scratch", det_data, None, args.width,
                                     args.det_epochs)),
                (f"pretrained backbone ({n} layers)",
                 detector(out / "det_pretrained", det_data, backbone, args.width,
                          args.det_epochs))]
        print(f"\n| yolov4-tiny w{args.width:g} from | iterations | minutes | mAP@0.5 | AP |\n"
              f"|---|---|---|---|---|")
        for label, r in rows:
            print(f"| {label} | {r['iterations']} | {r['minutes']:.1f} | {r['mAP50']:.4f} | "
                  f"{r['AP']:.4f} |")
        (_, a), (_, b) = rows
        ratio = (lambda x, y: f"{x / y:.2f}x" if y > 0 else "inf")
        print(f"\npretrained / scratch at equal iterations: mAP@0.5 {ratio(b['mAP50'], a['mAP50'])}"
              f", AP {ratio(b['AP'], a['AP'])}")
    if not args.skip_ablation:
        print(f"\n| ablation ({args.ablate_epochs} epochs, {args.seeds} seeds) | best top-1 mean | "
              f"std | vs default (paired mean) | runs |\n|---|---|---|---|---|")
        base = None
        for k, (label, changes) in enumerate(ABLATION.items()):
            tops = [pretrain(data, out / "ablate" / f"row{k}_seed{s}", args.width,
                             args.ablate_epochs, seed=s, **copy.deepcopy(changes))["best"]
                    for s in range(args.seeds)]
            base = tops if base is None else base
            std = statistics.stdev(tops) if len(tops) > 1 else 0.0
            delta = statistics.mean(t - b for t, b in zip(tops, base))
            print(f"| {label} | {statistics.mean(tops):.4f} | {std:.4f} | {delta:+.4f} | "
                  f"{', '.join(f'{v:.3f}' for v in tops)} |", flush=True)


if __name__ == "__main__":
    main()
