"""Training throughput on 1, 2, ... processes (torchrun + DDP): the scaling table of issue 16.

Generates the built-in synthetic dataset once, then runs the same ``yolov4 train`` (same global
batch, same iterations) under ``torchrun --nproc_per_node N`` for each N, and reads each run's
``iterations.csv`` (images per second of every update, data loading included). The first
``--warmup`` updates are left out; the table gives the median images/s, the speed-up over one
process and the efficiency (speed-up / N). On CPU (gloo) with fewer free cores than processes
it measures the overhead of the split and the all-reduce, not a speed-up.

    python benchmarks/ddp.py                                  # CPU: 1 vs 2 processes
    python benchmarks/ddp.py --device cuda --processes 1,2,4,8 --size 416 --batch 64
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict

import torch

from yolov4.data.synth import generate
from yolov4.engine.distributed import torchrun_command


def run(n: int, args: argparse.Namespace, data: Path, out: Path) -> Dict[str, float]:
    """One training under ``n`` processes; its median images/s and wall time."""
    argv = ["train", "--data", str(data), "--model", args.model, "--size", str(args.size),
            "--batch", str(args.batch), "--subdivisions", str(args.subdivisions),
            "--max-batches", str(args.iterations), "--out", str(out), "--quiet",
            "--width-multiple", str(args.width_multiple),
            "--device", args.device, "eval_interval=0", "plots=0", "tensorboard=0",
            f"threads={args.threads}", f"workers={args.workers}", "random=0"]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    if args.device == "cuda":
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(n))
    t = time.perf_counter()
    proc = subprocess.run(torchrun_command(n, argv), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"{n} processes failed:\n{proc.stderr[-3000:]}")
    with (out / "iterations.csv").open() as f:
        rows = list(csv.DictReader(f))
    ips = [float(r["images_per_s"]) for r in rows[args.warmup:]]
    return {"ips": statistics.median(ips), "wall": wall, "loss": float(rows[-1]["loss"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--processes", default=None,
                    help="comma list (default: 1,2 on CPU; 1,2,4,... up to the GPU count)")
    ap.add_argument("--model", default="yolov4-tiny")
    ap.add_argument("--width-multiple", type=float, default=0.5)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--batch", type=int, default=16, help="global images per update")
    ap.add_argument("--subdivisions", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--workers", type=int, default=0, help="loader workers per process")
    args = ap.parse_args()
    if args.processes:
        counts = [int(c) for c in args.processes.split(",")]
    elif args.device == "cuda":
        g = torch.cuda.device_count()
        counts = [c for c in (1, 2, 4, 8, 16) if c <= g] or [1]
    else:
        counts = [1, 2]
    with tempfile.TemporaryDirectory() as tmp:
        yaml = generate(Path(tmp) / "synth", images=args.batch * 4, classes=5, size=args.size,
                        val_fraction=0.0)
        results = {n: run(n, args, yaml, Path(tmp) / f"run{n}") for n in counts}
    where = (torch.cuda.get_device_name(0) if args.device == "cuda"
             else f"CPU ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    print(f"{args.model} x{args.width_multiple} at {args.size}, global batch {args.batch} "
          f"(subdivisions {args.subdivisions}), {args.iterations} updates, {where}, "
          f"{args.threads} thread(s) per process")
    print(f"{'processes':>9} {'images/s':>10} {'speed-up':>9} {'efficiency':>11} {'wall s':>8} "
          f"{'last loss':>10}")
    base = results[counts[0]]["ips"] / counts[0]
    for n in counts:
        r = results[n]
        up = r["ips"] / base
        print(f"{n:>9} {r['ips']:>10.2f} {up:>8.2f}x {up / n:>10.0%} {r['wall']:>8.1f} "
              f"{r['loss']:>10.4f}")


if __name__ == "__main__":
    sys.exit(main())
