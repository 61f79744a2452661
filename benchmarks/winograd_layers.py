"""Per-layer fp32 latency of yolov4-tiny-416's 3x3 convolutions: the pre-packed oneDNN direct
kernel (what ``optimize_for_inference`` runs) against our Winograd F(4x4, 3x3)
(``yolov4.ops.winograd``), eager and compiled by ``torch.compile``; GFLOP/s of the direct kernel.

Why it exists: issue 3 asks for fp32 yolov4-tiny at <= 0.75x OpenCV DNN's latency, and OpenCV
computes these layers with Winograd. This table shows where a Winograd path stands here.

    python benchmarks/winograd_layers.py [--runs 15] [--threads 2] [--no-compile]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from yolov4.ops.winograd import WinogradConv2d, _packed  # noqa: E402

#: (C_in, C_out, H = W) of yolov4-tiny-416's stride-1 3x3 convolutions (backbone and heads).
SHAPES = [(64, 64, 104), (32, 32, 104), (128, 128, 52), (64, 64, 52), (256, 256, 26),
          (128, 128, 26), (512, 512, 13), (256, 512, 13), (128, 256, 26)]


def median_ms(f, x, runs: int) -> float:
    for _ in range(3):
        f(x)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        f(x)
        ts.append(time.perf_counter() - t)
    return sorted(ts)[runs // 2] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch._dynamo.config.recompile_limit = 64
    print(f"threads={args.threads} torch={torch.__version__}\n")
    print("| C_in -> C_out @ H=W | GFLOP | direct ms | direct GFLOP/s | Winograd ms | "
          "Winograd compiled ms | best / direct |")
    print("|---|---|---|---|---|---|---|")
    totals = [0.0, 0.0]
    with torch.inference_mode():
        for ci, co, hw in SHAPES:
            torch.manual_seed(0)
            conv = nn.Conv2d(ci, co, 3, 1, 1).eval()
            x = torch.randn(1, ci, hw, hw).contiguous(memory_format=torch.channels_last)
            direct, wg = _packed(conv, x), WinogradConv2d(conv)
            err = (wg(x) - direct(x)).abs().max().item()
            assert err < 1e-3, err
            gflop = 2 * ci * co * 9 * hw * hw / 1e9
            td, tw = median_ms(direct, x, args.runs), median_ms(wg, x, args.runs)
            tc = float("nan") if args.no_compile else median_ms(
                torch.compile(wg, dynamic=False), x, args.runs)
            best = min(tw, tc) if tc == tc else tw
            totals[0] += td
            totals[1] += min(best, td)
            print(f"| {ci} -> {co} @ {hw} | {gflop:.2f} | {td:.2f} | {gflop / td * 1e3:.0f} | "
                  f"{tw:.2f} | {tc:.2f} | {best / td:.2f} |")
    print(f"\nsum of these layers: direct {totals[0]:.1f} ms; with Winograd wherever it wins "
          f"{totals[1]:.1f} ms")


if __name__ == "__main__":
    main()
