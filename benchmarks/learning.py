"""Does training learn with defaults? The default recipe against ``recipe=darknet``, same runs, same time.

Three parts, each run with both recipes (only ``recipe=`` differs between the two rows; every
other value is what a user gets by naming data, model, weights, size, batch and length):

- **(a) fine-tune**: yolov4-tiny from the official COCO weights (``../shared/darknet/weights``)
  on a real-photo set written by ``benchmarks/digits_dataset.py`` (10 classes; new heads), batch
  16 at 320x320 for 300 iterations, validated on the held-out split every ``--eval-every``
  iterations (the mAP@0.5 curve), as ``yolov4 train --data D --model yolov4-tiny --weights
  yolov4-tiny.weights --max-batches 300 --batch 16 --size 320``.
- **(b) from scratch**: yolov4-tiny at half width on the built-in shapes (the demo's dataset:
  3600 images, 4 classes, 192 px) for ``--b-epochs`` epochs, batch 16 at 192.
- **(c) divergence count**: the fine-tune of (a), shortened (``--c-iterations`` at
  ``--c-size``, batch ``--c-batch``), for ``--seeds`` seeds x learning rate x{0.5, 1, 2, 4} of
  each recipe's own learning rate. A run *diverges* when training stops on non-finite values,
  any update is skipped or zeroed, or its final loss (mean of the last 10 % of iterations) is
  more than 3x the lowest 10-iteration mean it reached.

mAP@0.5 is Darknet's ``detector map`` value, AP is COCO AP@[.5:.95] (pycocotools semantics);
"min" is wall-clock minutes of the whole run including validation. The last column of each
table is the ratio default / darknet measured in the same run.

    pip install scikit-learn scikit-image
    python benchmarks/digits_dataset.py --out runs/digits
    python benchmarks/learning.py --data runs/digits/data.yaml [--parts a,b,c] [--out runs/learning]
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Dict, List

from yolov4.engine.api import train
from yolov4.errors import YoloError

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parent.parent / "shared" / "darknet" / "weights" / "yolov4-tiny.weights"
RECIPES = ("default", "darknet")


def run(name: str, out: Path, **kw: Any) -> Dict[str, Any]:
    """One training run; never raises on a failed run (the failure is the result)."""
    t = time.perf_counter()
    row: Dict[str, Any] = {"run": name}
    try:
        res = train(out=out / name, verbose=False, log=lambda s: None, **kw)
        losses = [float(r["loss"]) for r in res.losses]
        row.update(status="ok", iterations=res.iterations, skipped=res.skipped_updates,
                   mAP50=res.metrics.get("darknet.mAP50", 0.0), AP=res.metrics.get("coco.AP", 0.0),
                   curve=[(r["iteration"], r.get("mAP50")) for r in res.history
                          if r.get("mAP50") not in (None, "")],
                   losses=losses)
    except YoloError as err:             # TrainingError: the run stopped on non-finite values
        row.update(status="stopped", error=str(err).split(";")[0], mAP50=0.0, AP=0.0,
                   skipped=None, losses=[])
    row["minutes"] = (time.perf_counter() - t) / 60
    return row


def diverged(row: Dict[str, Any]) -> bool:
    if row["status"] != "ok" or row.get("skipped"):
        return True
    losses = row["losses"]
    if len(losses) < 20:
        return False
    window = [sum(losses[i:i + 10]) / 10 for i in range(len(losses) - 9)]
    tail = losses[-max(1, len(losses) // 10):]
    return sum(tail) / len(tail) > 3 * min(window) or not all(map(math.isfinite, losses))


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else ("inf" if a > 0 else "-")


def part_a(args: argparse.Namespace, out: Path) -> List[Dict[str, Any]]:
    rows = []
    for recipe in RECIPES:
        rows.append(run(f"a_{recipe}", out, data=args.data, model="yolov4-tiny",
                        weights=str(WEIGHTS), max_batches=args.iterations, batch=16, size=320,
                        recipe=recipe, eval_interval=max(1, args.eval_every // 37), seed=0))
    return rows


def part_b(args: argparse.Namespace, out: Path) -> List[Dict[str, Any]]:
    from yolov4.data.synth import generate
    from yolov4.engine.demo import RECIPE
    data = out / "shapes" / "data.yaml"
    if not data.exists():
        generate(out / "shapes", **RECIPE["data"])
    rows = []
    for recipe in RECIPES:
        rows.append(run(f"b_{recipe}", out, data=str(data), model="yolov4-tiny",
                        model_kwargs={"width_multiple": 0.5}, epochs=args.b_epochs, batch=16,
                        size=192, recipe=recipe, eval_interval=max(1, args.b_epochs // 3),
                        seed=0))
    return rows


def part_c(args: argparse.Namespace, out: Path) -> List[Dict[str, Any]]:
    from yolov4.engine.config import default_hyp, recipe_defaults
    from yolov4.models import build_sections
    net = build_sections("yolov4-tiny", classes=10)[0]
    base = {"default": recipe_defaults().get("learning_rate", net.get_float("learning_rate")),
            "darknet": net.get_float("learning_rate")}
    assert default_hyp()["recipe"] == "default"
    rows = []
    for recipe in RECIPES:
        seeds = args.seeds if recipe == "default" else (args.c_darknet_seeds or args.seeds)
        for mult in args.lr_mults:
            for seed in range(seeds):
                row = run(f"c_{recipe}_lr{mult:g}_s{seed}", out, data=args.data,
                          model="yolov4-tiny", weights=str(WEIGHTS),
                          max_batches=args.c_iterations, batch=args.c_batch, size=args.c_size,
                          recipe=recipe, learning_rate=base[recipe] * mult, seed=seed,
                          eval_interval=0)
                row.update(recipe=recipe, mult=mult, seed=seed, diverged=diverged(row))
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("run", "status", "mAP50", "diverged",
                                                      "minutes")}), flush=True)
    return rows


def print_ab(title: str, rows: List[Dict[str, Any]]) -> None:
    print(f"\n### {title}\n")
    print("| recipe | status | iterations | skipped | mAP@0.5 | AP | min | mAP@0.5 curve |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        curve = " ".join(f"{it}:{m:.3f}" for it, m in r.get("curve", []))
        print(f"| {r['run']} | {r['status']} | {r.get('iterations', '-')} | "
              f"{r.get('skipped', '-')} | {r['mAP50']:.4f} | {r['AP']:.4f} | "
              f"{r['minutes']:.1f} | {curve} |")
    d, k = rows[0], rows[1]
    print(f"\ndefault / darknet: mAP@0.5 {ratio(d['mAP50'], k['mAP50'])}, AP "
          f"{ratio(d['AP'], k['AP'])}, time {ratio(d['minutes'], k['minutes'])}")


def print_c(rows: List[Dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\n### (c) divergences: {args.seeds} seeds (recipe=darknet: "
          f"{args.c_darknet_seeds or args.seeds}) x lr x{{{', '.join(f'{m:g}' for m in args.lr_mults)}}}"
          f" ({args.c_iterations} iterations, batch {args.c_batch}, {args.c_size} px)\n")
    print("| recipe | lr x | diverged | stopped | mean mAP@0.5 | min mAP@0.5 |")
    print("|---|---|---|---|---|---|")
    totals = {}
    for recipe in RECIPES:
        for mult in args.lr_mults:
            sel = [r for r in rows if r["recipe"] == recipe and r["mult"] == mult]
            maps = [r["mAP50"] for r in sel]
            print(f"| {recipe} | {mult:g} | {sum(r['diverged'] for r in sel)}/{len(sel)} | "
                  f"{sum(r['status'] != 'ok' for r in sel)} | {sum(maps) / len(maps):.4f} | "
                  f"{min(maps):.4f} |")
        sel = [r for r in rows if r["recipe"] == recipe]
        totals[recipe] = (sum(r["diverged"] for r in sel), len(sel),
                          sum(r["mAP50"] for r in sel) / len(sel))
    (dd, n, dm), (kd, kn, km) = totals["default"], totals["darknet"]
    print(f"\ndivergences: default {dd}/{n}, darknet {kd}/{kn}; mean mAP@0.5 default / darknet "
          f"{ratio(dm, km)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="runs/digits/data.yaml")
    ap.add_argument("--parts", default="a,b,c")
    ap.add_argument("--out", default="runs/learning")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=74, help="(a): validate every N iterations "
                    "(rounded to whole epochs of 37)")
    ap.add_argument("--b-epochs", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--lr-mults", type=lambda s: [float(v) for v in s.split(",")],
                    default=[0.5, 1, 2, 4])
    ap.add_argument("--c-darknet-seeds", type=int, default=0,
                    help="(c): seeds of the recipe=darknet rows (0 = --seeds)")
    ap.add_argument("--c-iterations", type=int, default=60)
    ap.add_argument("--c-batch", type=int, default=8)
    ap.add_argument("--c-size", type=int, default=256)
    args = ap.parse_args()
    out = Path(args.out)
    parts = set(args.parts.split(","))
    if "a" in parts:
        print_ab("(a) fine-tune yolov4-tiny COCO weights on the digits photos, 300 x 16 at 320",
                 part_a(args, out))
    if "b" in parts:
        print_ab(f"(b) yolov4-tiny x0.5 from scratch on the built-in shapes, {args.b_epochs} epochs",
                 part_b(args, out))
    if "c" in parts:
        print_c(part_c(args, out), args)


if __name__ == "__main__":
    main()
