"""Time per training step of yolov4-tiny at 416, batch 16, on CPU, against the torch matmul peak.

A step = forward + Darknet loss + backward + SGD update (the engine's own pieces: YoloLoss,
build_optimizer, loss / batch). Achieved GFLOP/s counts 3 x the forward FLOPs per image
(forward + backward ~ 2 x forward), with the forward FLOPs taken as Darknet's BFLOPS of the cfg
(2 x multiply-adds of convs, plus maxpool/shortcut; yolov4-tiny = 6.91 at 416). The reference
is the float32 matmul throughput of this machine measured in the same run.

    python benchmarks/train_step.py [--size 416] [--batch 16] [--steps 3] [--threads N]
"""
from __future__ import annotations

import argparse
import time

import torch

from yolov4.darknet.graph import Darknet
from yolov4.engine.lr_policy import apply_lr
from yolov4.engine.optim import build_optimizer
from yolov4.loss import YoloLoss
from yolov4.models import build_sections


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """Best-of-``reps`` float32 ``n x n`` matmul throughput in GFLOP/s (2 n^3 per product)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=416)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sections = build_sections("yolov4-tiny", classes=80, width=args.size, height=args.size)
    net = Darknet.from_cfg(sections).train()
    fwd_gflops = sum(sp.bflops for sp in net.specs)          # per image, Darknet's BFLOPS
    loss_fn = YoloLoss(net)
    opt = build_optimizer(net, {"learning_rate": 0.001, "momentum": 0.9, "decay": 0.0005})
    apply_lr(opt, 0.001)
    x = torch.rand(args.batch, 3, args.size, args.size)
    g = torch.Generator().manual_seed(0)
    rows = []
    for b in range(args.batch):                              # 4 objects per image
        xy = torch.rand(4, 2, generator=g) * args.size * 0.7
        wh = 20 + torch.rand(4, 2, generator=g) * args.size * 0.25
        cls = torch.randint(0, 80, (4, 1), generator=g).float()
        rows.append(torch.cat([torch.full((4, 1), float(b)), cls, xy, xy + wh], 1))
    targets = torch.cat(rows)

    def step() -> float:
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        total, _ = loss_fn(net(x), targets, (args.size, args.size))
        (total / args.batch).backward()
        opt.step()
        return time.perf_counter() - t

    peak_before = matmul_peak()
    step()                                                   # warm-up
    times = [step() for _ in range(args.steps)]
    peak_after = matmul_peak()
    peak = max(peak_before, peak_after)
    t = min(times)
    achieved = 3 * fwd_gflops * args.batch / t
    print(f"yolov4-tiny {args.size}x{args.size}, batch {args.batch}, CPU, torch threads "
          f"{torch.get_num_threads()}")
    print(f"{'quantity':<34}{'value':>12}")
    print(f"{'forward GFLOP / image (Darknet)':<34}{fwd_gflops:>12.3f}")
    print(f"{'step time best / median (s)':<34}{t:>6.2f} / {sorted(times)[len(times) // 2]:.2f}")
    print(f"{'images / s':<34}{args.batch / t:>12.2f}")
    print(f"{'achieved GFLOP/s (3 x fwd)':<34}{achieved:>12.1f}")
    print(f"{'torch matmul peak GFLOP/s':<34}{peak:>12.1f}")
    print(f"{'ratio achieved / peak':<34}{achieved / peak:>11.1%}")


if __name__ == "__main__":
    main()
