"""``recipe=darknet`` against Darknet itself: the same fine-tune, loss per iteration side by side.

Darknet (AlexeyAB/darknet with its two CPU-only backward bugs fixed by
``benchmarks/darknet_cpu_fixes.py``, so that it trains as its GPU build does, then built with
``../shared/tools/build-darknet``, which keeps its NaN/Inf guards) fine-tunes yolov4-tiny on a
dataset written by ``benchmarks/digits_dataset.py``: ``yolov4-tiny-custom.cfg`` with the dataset's classes, the first 29 layers of the official COCO
weights (``darknet partial ... 29``), batch 16, 320x320, ``max_batches`` N, burn_in N/10, steps at
80 % and 90 %. It runs ``--runs`` times (Darknet seeds its data order from the clock, so two runs
give the run-to-run spread), then ``detector map`` on the validation list. Ours trains the same
cfg from the same partial file with ``recipe=darknet`` and logs Darknet's printed loss
(``darknet_loss``: the mean over [yolo] layers of each layer's cost, per image; DARKNET_SEMANTICS
§3.7). The table shows each run's loss and Darknet's running "avg loss" (0.9 old + 0.1 new) at
chosen iterations, and whether ours lies within the Darknet runs' range.

    python benchmarks/digits_dataset.py --out runs/digits
    python benchmarks/darknet_cpu_fixes.py /path/to/darknet-src
    ../shared/tools/build-darknet /path/to/darknet-src
    python benchmarks/darknet_reference.py --darknet /path/to/darknet-src/darknet \\
        --data runs/digits [--iterations 300] [--runs 2] [--out runs/darknet_reference]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from darknet_step import parse_losses

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "darknet"
MAP_LINE = re.compile(r"mean average precision \(mAP@0\.50\) = ([-+\w.]+)")


def write_cfg(out: Path, classes: int, iterations: int, size: int, batch: int,
              augment: bool = True, learning_rate: Optional[float] = None) -> Path:
    """yolov4-tiny-custom.cfg with the run's classes, size, batch and schedule (and every
    augmentation off unless ``augment``; ``learning_rate`` replaces the cfg's when given)."""
    text = (SHARED / "cfg" / "yolov4-tiny-custom.cfg").read_text()
    steps = f"{int(iterations * 0.8)},{int(iterations * 0.9)}"
    subs = [(r"(?m)^batch=\d+", f"batch={batch}"), (r"(?m)^width=\d+", f"width={size}"),
            (r"(?m)^height=\d+", f"height={size}"),
            (r"(?m)^burn_in=\d+", f"burn_in={max(1, iterations // 10)}"),
            (r"(?m)^max_batches\s*=\s*\d+", f"max_batches={iterations}"),
            (r"(?m)^steps=[\d,]+", f"steps={steps}"), (r"(?m)^classes=\d+", f"classes={classes}"),
            (r"(?m)^filters=255", f"filters={3 * (5 + classes)}")]
    if learning_rate is not None:
        subs.append((r"(?m)^learning_rate\s*=.*$", f"learning_rate={learning_rate:g}"))
    for pattern, repl in subs:
        text, n = re.subn(pattern, repl, text)
        if not n:
            raise SystemExit(f"yolov4-tiny-custom.cfg: no line matches {pattern}")
    if not augment:
        from darknet_step import augmentation_off
        text = augmentation_off(text, SHARED / "cfg" / "yolov4-tiny-custom.cfg")
    path = out / "tiny-custom.cfg"
    path.write_text(text)
    return path


def darknet_run(darknet: Path, out: Path, data_dir: Path, cfg: Path, start: Path,
                k: int, stop_after: int = 0) -> Dict[str, object]:
    """Darknet run ``k``: its loss per iteration and ``detector map`` of its final weights;
    with ``stop_after`` it is stopped once that iteration is printed (same schedule, no mAP)."""
    backup = out / f"backup{k}"
    backup.mkdir(parents=True, exist_ok=True)
    obj = (data_dir / "darknet" / "obj.data").read_text()
    obj = re.sub(r"(?m)^backup = .*$", f"backup = {backup}", obj)
    (out / f"obj{k}.data").write_text(obj)
    log = out / f"darknet{k}.log"
    t = time.perf_counter()
    with log.open("w") as f:
        proc = subprocess.Popen([str(darknet), "detector", "train", str(out / f"obj{k}.data"),
                                 str(cfg), str(start), "-dont_show", "-clear"], cwd=out,
                                stdout=f, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            time.sleep(2)
            if stop_after and stop_after in parse_losses(log)[0]:
                proc.terminate()
                proc.wait()
    minutes = (time.perf_counter() - t) / 60
    losses, avg = parse_losses(log)
    final = backup / f"{cfg.stem}_final.weights"
    mAP: Optional[float] = None
    if final.exists():
        map_log = out / f"map{k}.log"
        with map_log.open("w") as f:
            subprocess.run([str(darknet), "detector", "map", str(out / f"obj{k}.data"), str(cfg),
                            str(final), "-dont_show"], cwd=out, stdout=f,
                           stderr=subprocess.STDOUT, check=False)
        mAP = parse_map(map_log)
    return {"name": f"darknet run {k}", "loss": losses, "avg": avg, "mAP50": mAP,
            "minutes": minutes}


def parse_map(log: Path) -> Optional[float]:
    """Darknet's ``mean average precision (mAP@0.50) = x`` from a ``detector map`` log, or None
    when the line is missing or its value is not a fraction (the log is kept to look at)."""
    hit = MAP_LINE.search(log.read_text(errors="replace"))
    if not hit:
        return None
    value = float(hit.group(1))
    return value if 0.0 <= value <= 1.0 else None


def ours_run(out: Path, data_dir: Path, cfg: Path, start: Path, iterations: int, size: int,
             batch: int, seed: int, stop_after: int = 0) -> Dict[str, object]:
    """Our ``recipe=darknet`` run; one that stops on non-finite values (``nan_patience``) is
    recorded up to where it stopped, its skipped updates as NaN."""
    import csv

    from yolov4.engine.api import train
    from yolov4.engine.trainer import TrainingError
    t = time.perf_counter()
    run_dir, stopped, mAP, skipped = out / f"ours{seed}", None, None, None
    try:
        res = train(data=str(data_dir / "data.yaml"), model=str(cfg), weights=str(start),
                    out=run_dir, recipe="darknet", max_batches=iterations, size=size,
                    batch=batch, seed=seed, eval_interval=0, stop_after=stop_after,
                    verbose=False, log=lambda s: None)
        rows, mAP, skipped = res.losses, res.metrics.get("darknet.mAP50"), res.skipped_updates
    except TrainingError as err:
        stopped = str(err).split(";")[0]
        with (run_dir / "iterations.csv").open() as f:
            rows = list(csv.DictReader(f))
    losses, avg, running = {}, {}, None
    for row in rows:
        v = float(row["darknet_loss"])
        running = v if running is None else 0.9 * running + 0.1 * v
        losses[int(row["iteration"])], avg[int(row["iteration"])] = v, running
    r = {"name": f"ours recipe=darknet seed {seed}", "loss": losses, "avg": avg, "mAP50": mAP,
         "minutes": (time.perf_counter() - t) / 60, "skipped": skipped}
    if stopped:
        r["stopped"] = stopped
    return r


def diverged_at(run: Dict) -> Optional[int]:
    """The first iteration whose loss is not finite, or None."""
    return next((i for i in sorted(run["loss"]) if not math.isfinite(run["loss"][i])), None)


def recorded(path: Path, reuse: bool, run: Callable[[], Dict]) -> Dict:
    """``run()``'s result, written to ``path`` as JSON; with ``reuse`` read back from ``path``
    when it exists (iteration keys restored to ints)."""
    if reuse and path.exists():
        r = json.loads(path.read_text())
        for key in ("loss", "avg"):
            r[key] = {int(i): v for i, v in r[key].items()}
        return r
    r = run()
    path.write_text(json.dumps(r))
    return r


def table(runs: List[Dict], darknet_runs: List[Dict], points: List[int]) -> None:
    names = [r["name"] for r in runs]
    print("| iteration | " + " | ".join(f"{n} loss (avg)" for n in names)
          + " | ours' avg within Darknet's avg range |")
    print("|---|" + "---|" * len(names) + "---|")
    inside = total = 0
    for it in points:
        cells = []
        for r in runs:
            v, a = r["loss"].get(it), r["avg"].get(it)
            cells.append("-" if v is None else f"{v:.3g} ({a:.3g})")
        lo = [a for a in (r["avg"].get(it) for r in darknet_runs)
              if a is not None and math.isfinite(a)]
        verdict = ""
        if len(lo) == len(darknet_runs):
            ours = [r["avg"].get(it) for r in runs if r not in darknet_runs]
            ok = ["-" if o is None or not math.isfinite(o) else
                  ("yes" if min(lo) <= o <= max(lo) else "no") for o in ours]
            verdict = ", ".join(ok)
        print(f"| {it} | " + " | ".join(cells) + f" | {verdict} |")
    for r in runs:
        its = sorted(r["avg"])
        if r in darknet_runs or not darknet_runs:
            continue
        for it in its:
            lo = [d["avg"][it] for d in darknet_runs
                  if it in d["avg"] and math.isfinite(d["avg"][it])]
            if len(lo) == len(darknet_runs) and math.isfinite(r["avg"][it]):
                total += 1
                inside += min(lo) <= r["avg"][it] <= max(lo)
    print()
    for r in runs:
        extra = f", {r['skipped']} skipped updates" if r.get("skipped") is not None else ""
        mAP = "n/a" if r["mAP50"] is None else f"{r['mAP50']:.4f}"
        nan_at = diverged_at(r)
        state = (f"; loss not finite from iteration {nan_at}" if nan_at else "") + (
            f"; {r['stopped']}" if r.get("stopped") else "")
        print(f"- {r['name']}: {len(r['loss'])} iterations in {r['minutes']:.1f} min, "
              f"final mAP@0.5 {mAP}{extra}{state}")
    if total:
        print(f"- ours' running average inside the Darknet runs' range at {inside} of {total} "
              f"iterations ({100 * inside / total:.0f} %)")


def windows(runs: List[Dict], darknet_runs: List[Dict], iterations: int,
            stat: str = "mean") -> None:
    """Mean (or median: robust to Darknet's one-iteration spikes) loss per window of
    iterations: each Darknet run, ours, ours' gap to the Darknet runs' centre and the Darknet
    runs' own spread (max - min over their centre), in %."""
    import statistics

    centre_of = statistics.median if stat == "median" else statistics.fmean
    edges = [e for e in (1, 11, 31, 61, 101, 151, 201, 251) if e <= iterations] + [iterations + 1]
    names = [r["name"] for r in runs]
    print("\n| iterations | " + " | ".join(f"{n} {stat} loss" for n in names)
          + f" | ours vs Darknet {stat} | Darknet spread |")
    print("|---|" + "---|" * len(names) + "---|---|")
    inside = total = 0
    for a, b in zip(edges[:-1], edges[1:]):
        means = []
        for r in runs:  # a window with a missing or non-finite loss has no mean
            vals = [r["loss"][i] for i in range(a, b) if i in r["loss"]]
            ok = len(vals) == b - a and all(math.isfinite(v) for v in vals)
            means.append(centre_of(vals) if ok else None)
        dk = [m for r, m in zip(runs, means) if r in darknet_runs and m is not None]
        ours = [m for r, m in zip(runs, means) if r not in darknet_runs and m is not None]
        gap = spread = ""
        if dk:
            centre = sum(dk) / len(dk)
            spread = f"{100 * (max(dk) - min(dk)) / centre:.1f} %" if len(dk) > 1 else "one run"
            gap = ", ".join(f"{100 * (o - centre) / centre:+.1f} %" for o in ours)
            if len(dk) > 1:
                total += len(ours)
                inside += sum(min(dk) <= o <= max(dk) for o in ours)
        cells = " | ".join("diverged" if m is None and diverged_at(r) and diverged_at(r) < b
                           else "-" if m is None else f"{m:.3g}" for r, m in zip(runs, means))
        print(f"| {a}-{b - 1} | {cells} | {gap} | {spread} |")
    if total:
        print(f"\nours' window {stat}s inside the Darknet runs' range (min..max): {inside} of "
              f"{total}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--darknet", required=True,
                    help="a Darknet binary built with darknet_cpu_fixes.py and build-darknet")
    ap.add_argument("--data", default="runs/digits", help="benchmarks/digits_dataset.py output")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--runs", type=int, default=2, help="Darknet runs")
    ap.add_argument("--ours", type=int, default=1, help="our runs (seeds 0..N-1)")
    ap.add_argument("--out", default="runs/darknet_reference")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the runs already recorded in --out (darknetK.json, oursS.json)")
    ap.add_argument("--no-augment", action="store_true",
                    help="every augmentation off in both (jitter, HSV, flip): separates the "
                         "training step from the two augmentation implementations")
    ap.add_argument("--same-start", action="store_true",
                    help="start both sides from one whole weights file (the partial file plus "
                         "our seed-0 initialisation of the new layers) instead of each side "
                         "initialising them itself: the first iterations' loss depends on that "
                         "draw by +-10 %%, and Darknet's runs all share one draw")
    ap.add_argument("--start", default="",
                    help="start both sides from this whole weights file (.weights, or one of "
                         "our .pt checkpoints, written out as .weights for Darknet)")
    ap.add_argument("--learning-rate", type=float, default=None,
                    help="replace the cfg's learning_rate; 0 makes no update, so each side "
                         "prints the loss of the --start weights on its own training batches: "
                         "a check of the two data paths (augmentation, sampling) alone")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop each run after this many iterations (the schedule stays that of "
                         "--iterations): a cheaper look at the early windows")
    ap.add_argument("--only", default="",
                    help="run just this one (darknetK or oursS), record it and exit: start "
                         "several in parallel, then print the table with --reuse")
    args = ap.parse_args()
    out, data_dir = Path(args.out).resolve(), Path(args.data).resolve()
    out.mkdir(parents=True, exist_ok=True)
    darknet = Path(args.darknet).resolve()
    classes = len((data_dir / "darknet" / "obj.names").read_text().split())
    cfg = write_cfg(out, classes, args.iterations, args.size, args.batch,
                    augment=not args.no_augment, learning_rate=args.learning_rate)
    start = out / "yolov4-tiny.conv.29"
    if not start.exists():
        subprocess.run([str(darknet), "partial", str(cfg), str(SHARED / "weights" /
                        "yolov4-tiny.weights"), str(start), "29"], cwd=out, check=True,
                       capture_output=True)
    if args.start:
        from darknet_step import as_weights
        start = as_weights(cfg, Path(args.start).resolve(), out)
    elif args.same_start:
        from darknet_step import whole_start
        start = whole_start(cfg, start, out)
    env_threads = os.environ.get("OMP_NUM_THREADS")

    def job(name: str) -> Callable[[], Dict]:
        """The run recorded as ``name.json``: ``darknetK`` (K >= 1) or ``oursS`` (seed S)."""
        hit = re.fullmatch(r"(darknet|ours)(\d+)", name)
        if hit is None:
            raise SystemExit(f"--only {name}: expected darknetK or oursS, e.g. darknet1, ours0")
        kind, k = hit.group(1), int(hit.group(2))
        if kind == "darknet":
            return lambda: darknet_run(darknet, out, data_dir, cfg, start, k, args.stop_after)
        return lambda: ours_run(out, data_dir, cfg, start, args.iterations, args.size,
                                args.batch, k, args.stop_after)

    if args.only:
        recorded(out / f"{args.only}.json", False, job(args.only))
        return
    runs = [recorded(out / f"darknet{k}.json", args.reuse, job(f"darknet{k}"))
            for k in range(1, args.runs + 1)]
    darknet_runs = list(runs)
    runs += [recorded(out / f"ours{seed}.json", args.reuse, job(f"ours{seed}"))
             for seed in range(args.ours)]
    points = sorted({1, 5, 10, 20, 30, 50, 93, 100, 150, 200, 250, args.iterations} &
                    set(range(1, args.iterations + 1)))
    print(f"\nfine-tune of yolov4-tiny-custom ({classes} classes) from yolov4-tiny.conv.29, batch "
          f"{args.batch}, {args.size}x{args.size}, {args.iterations} iterations; Darknet "
          f"{darknet} (OMP_NUM_THREADS={env_threads or 'default'})\n")
    table(runs, darknet_runs, points)
    windows(runs, darknet_runs, args.iterations)
    windows(runs, darknet_runs, args.iterations, "median")


if __name__ == "__main__":
    main()
