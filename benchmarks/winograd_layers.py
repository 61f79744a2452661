"""Per-layer fp32 latency of yolov4-tiny-416's stride-1 3x3 convolutions: the pre-packed oneDNN
direct kernel (what ``optimize_for_inference`` runs without Winograd) against our Winograd
convolutions — the torch-level transforms (``yolov4.runtime.winograd``'s fallback, F(4x4)) and
the compiled ones (``yolov4.runtime.winograd_native``: input transform, the products, output
transform), F(6x6, 3x3), F(4x4, 3x3) and F(2x2, 3x3), with the products as one ``torch.bmm``
("b") or one oneDNN grouped 1x1 convolution ("o"). Every Winograd output is checked against
the direct one. Leaky ReLU is fused in both, as in the network. ``--cold`` evicts the caches
before every call (as inside the network, where each layer's weights come from memory).

Why it exists: issue 3 asks for fp32 yolov4-tiny at <= 0.75x OpenCV DNN's latency; OpenCV
computes these layers with Winograd, and the direct kernels already run at the matmul peak.

    python benchmarks/winograd_layers.py [--runs 30] [--threads 2]
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import time  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

from yolov4.runtime import winograd_native  # noqa: E402
from yolov4.runtime.winograd import WinogradConv2d  # noqa: E402
from yolov4.runtime.winograd_tune import _cache_bytes, _packed  # noqa: E402

#: (C_in, C_out, H = W, how many layers of that shape) of yolov4-tiny-416's stride-1 3x3 convs.
SHAPES = [(64, 64, 104, 1), (32, 32, 104, 2), (128, 128, 52, 1), (64, 64, 52, 2),
          (256, 256, 26, 1), (128, 128, 26, 2), (512, 512, 13, 1), (256, 512, 13, 1),
          (384, 256, 26, 1)]


def median_ms(f, x, runs: int, flush=None) -> float:
    for _ in range(3):
        f(x)
    ts = []
    for _ in range(runs):
        if flush is not None:
            flush.fill_(1.0)
            x.sum()
        t = time.perf_counter()
        f(x)
        ts.append(time.perf_counter() - t)
    return sorted(ts)[runs // 2] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="evict the caches before each call")
    args = ap.parse_args()
    flush = torch.empty(_cache_bytes() // 4) if args.cold else None
    torch.set_num_threads(args.threads)
    native = winograd_native.available()
    print(f"threads={args.threads} torch={torch.__version__} native={native} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} cold={args.cold}\n")
    variants = [("torch F4", dict(tile=4), False)]
    if native:
        variants += [(f"F{t}{g[0]}", dict(tile=t, gemm=g), True)
                     for t in (6, 4, 2) for g in ("bmm", "onednn")]
    print("| C_in -> C_out @ H=W (x layers) | direct ms | direct GFLOP/s | "
          + " | ".join(f"{v[0]} ms" for v in variants) + " | best / direct |")
    print("|---" * (len(variants) + 4) + "|")
    totals = [0.0, 0.0]
    with torch.inference_mode():
        for ci, co, hw, count in SHAPES:
            torch.manual_seed(0)
            conv = nn.Conv2d(ci, co, 3, 1, 1).eval()
            x = torch.randn(1, ci, hw, hw).contiguous(memory_format=torch.channels_last)
            direct = _packed(conv, x, 0.1)
            ref = direct(x)
            td = median_ms(direct, x, args.runs, flush)
            times = []
            for _, kw, needs_native in variants:
                wg = WinogradConv2d(conv, 0.1, input_size=x.shape, **kw)
                xin = x if needs_native else x.contiguous()  # NCHW: the torch fallback
                err = (wg(xin) - ref).abs().max().item()
                assert err < 1e-3 * max(1.0, ref.abs().max().item()), err
                times.append(median_ms(wg, xin, args.runs, flush))
            best = min(times)
            totals[0] += td * count
            totals[1] += min(best, td) * count
            gflop = 2 * ci * co * 9 * hw * hw / 1e9
            print(f"| {ci} -> {co} @ {hw} (x{count}) | {td:.2f} | {gflop / td * 1e3:.0f} | "
                  + " | ".join(f"{t:.2f}" for t in times) + f" | {best / td:.2f} |")
    print(f"\nall twelve layers: direct {totals[0]:.1f} ms; the fastest kernel per layer "
          f"{totals[1]:.1f} ms ({totals[1] / totals[0]:.2f}x)")


if __name__ == "__main__":
    main()
