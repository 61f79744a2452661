"""What a passive OpenMP wait policy costs per parallel region, and the optimized yolov4-tiny.

Under ``OMP_WAIT_POLICY=PASSIVE`` (which ``benchmarks/inference.py`` used to set, so that no
idle thread spins on the next engine's cores) each 2-thread OpenMP region has to wake a
sleeping worker. This script measures that in fresh processes under each policy
(unset = libgomp's default: spin 300,000 iterations, then sleep;
``GOMP_SPINCOUNT=10000``: a short spin, what ``benchmarks/inference.py`` uses):

- a 64x64 fp32 matmul with 1 and 2 threads (2 threads: one region, almost no work);
- yolov4-tiny (shared COCO weights, ``optimize_for_inference`` defaults) at 64x64 input, where
  the compute is negligible and what remains is per-layer overhead, and at 416x416.

    python benchmarks/omp_wakeup.py [--runs 200]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "darknet"


def median_us(f, runs: int) -> float:
    for _ in range(10):
        f()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[runs // 2] * 1e6


def worker(runs: int) -> dict:
    import torch

    from yolov4.darknet.graph import Darknet
    from yolov4.runtime.optimize import optimize_for_inference

    out = {}
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        out[f"matmul64_{threads}t_us"] = median_us(lambda: a @ b, runs)
    torch.set_num_threads(2)
    cfg = SHARED / "weights" / "yolov4-tiny.cfg"
    for size in (64, 416):
        net = Darknet.from_cfg(str(cfg))
        net.load_weights(str(cfg.with_suffix(".weights")))
        net.eval().fuse()
        x = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            optimize_for_inference(net, x)
            out[f"tiny{size}_ms"] = median_us(lambda: net(x), max(20, runs // 10)) / 1000
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.runs)))
        return 0
    rows = []
    for policy, spin in (("PASSIVE", None), (None, None), (None, "10000"), ("ACTIVE", None)):
        env = {k: v for k, v in os.environ.items()
               if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        if spin:
            env["GOMP_SPINCOUNT"] = spin
        res = subprocess.run([sys.executable, __file__, "--worker", "--runs", str(args.runs)],
                             env=env, capture_output=True, text=True, check=True)
        label = policy or "(unset)"
        rows.append((label + (f", GOMP_SPINCOUNT={spin}" if spin else ""),
                     json.loads(res.stdout.strip().splitlines()[-1])))
    print("| OMP_WAIT_POLICY | matmul 64x64, 1 thread (us) | 2 threads (us) | "
          "yolov4-tiny optimized @64 (ms) | @416 (ms) |")
    print("|---|---|---|---|---|")
    for policy, r in rows:
        print(f"| {policy} | {r['matmul64_1t_us']:.0f} | {r['matmul64_2t_us']:.0f} | "
              f"{r['tiny64_ms']:.2f} | {r['tiny416_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
