"""Does ``yolov4 evolve`` beat the default recipe, and which way do the paper's ablation rows go
on our data? (CPU, tens of minutes; not run in CI.)

1. **evolve**: yolov4-tiny at half width from scratch on the built-in shapes (``yolov4 data
   synth``), ``--trials`` trials of ``--iterations`` updates each, batch 16 at ``--size``,
   fitness 0.1 x AP50 + 0.9 x AP. Trial 0 is the default recipe itself, so "best vs trial 0"
   is the gain of the search measured in the same run. Best trial's genes: ``best_hyp.yaml``.
2. **ablate**: the built-in ``paper`` plan (Table 4 + SAM, our switch names) with the evolved
   file as GA, ``--seeds`` seeds per row, same model and length; the table (mean +- std, paired
   95 % CI against the baseline) is printed next to the paper's AP and the direction of each
   row's change.

Both parts resume: run the same command again (``--trials``/``--seeds`` larger to extend).
Everything goes through the public API (``yolov4.evolve``, ``yolov4.ablate``).

    python benchmarks/evolve_ablate.py [--out runs/evolve_ablate] [--trials 24] [--seeds 3]
    python benchmarks/evolve_ablate.py --quick      # a smoke run of a minute or two
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import yolov4
from yolov4.data.synth import generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/evolve_ablate")
    ap.add_argument("--images", type=int, default=1200, help="built-in shapes images")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=300, help="updates per trial")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--parts", default="evolve,ablate")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (minutes)")
    args = ap.parse_args()
    if args.quick:
        args.images, args.size, args.iterations, args.trials, args.seeds = 40, 64, 4, 3, 2
    out = Path(args.out)
    data = out / "shapes" / "data.yaml"
    if not data.exists():
        generate(out / "shapes", images=args.images, classes=4, size=args.size, seed=0,
                 val_fraction=0.15)
    common = dict(data=str(data), model="yolov4-tiny",
                  model_kwargs={"width_multiple": 0.125 if args.quick else 0.5},
                  iterations=args.iterations, batch=4 if args.quick else 16, size=args.size,
                  plots=0, tensorboard=0, eval_interval=0)
    parts = args.parts.split(",")
    best_hyp = None
    if "evolve" in parts:
        t = time.time()
        ev_dir = out / "evolve"
        if (ev_dir / "evolve.csv").exists():
            r = yolov4.evolve(resume=ev_dir, trials=args.trials)
        else:
            r = yolov4.evolve(trials=args.trials, out=ev_dir, **common)
        best_hyp = r.best_hyp
        ok = sum(1 for row in r.records if row["status"] == "ok")
        print(f"\n## evolve ({len(r.records)} trials, {ok} ok, {(time.time() - t) / 60:.1f} min)\n")
        print(f"default recipe (trial 0) fitness {r.base_fitness:.4f}; best trial "
              f"{r.best_trial} fitness {r.best_fitness:.4f} "
              f"({'beats' if r.best_fitness > (r.base_fitness or 0) else 'does not beat'} it)")
        print(f"genes: {r.best_hyp}")
    elif (out / "evolve" / "best_hyp.yaml").exists():
        best_hyp = out / "evolve" / "best_hyp.yaml"
    if "ablate" in parts:
        t = time.time()
        ab_dir = out / "ablate"
        if (ab_dir / "ablate.csv").exists():
            a = yolov4.ablate(resume=ab_dir, seeds=args.seeds)
        else:
            a = yolov4.ablate(plan="paper", seeds=args.seeds, out=ab_dir,
                              ga_hyp=str(best_hyp) if best_hyp else None, **common)
        print(f"\n## paper ablation ({len(a.records)} trials, {(time.time() - t) / 60:.1f} min)\n")
        print(a.markdown.read_text())


if __name__ == "__main__":
    main()
