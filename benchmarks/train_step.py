"""Time per training step of yolov4-tiny at 416, batch 16, against the matmul peak of the same device.

A step = forward + Darknet loss + backward + SGD update (the engine's own pieces: YoloLoss,
build_optimizer, loss / batch), optionally with the trainer's GPU switches: AMP (``--amp bf16``
or ``fp16`` with loss scaling), channels-last, ``torch.compile``. Achieved GFLOP/s counts 3 x
the forward FLOPs per image (forward + backward ~ 2 x forward), with the forward FLOPs taken as
Darknet's BFLOPS of the cfg (2 x multiply-adds of convs, plus maxpool/shortcut; yolov4-tiny =
6.91 at 416). The reference is the matmul throughput of this device in the step's compute
dtype (float32, or bf16/fp16 under AMP), measured in the same run.

    python benchmarks/train_step.py [--device cpu|cuda] [--amp off|bf16|fp16] [--channels-last]
        [--compile] [--size 416] [--batch 16] [--steps 3] [--threads N] [--model yolov4-tiny]
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from yolov4.darknet.graph import Darknet
from yolov4.engine.lr_policy import apply_lr
from yolov4.engine.optim import build_optimizer
from yolov4.loss import YoloLoss
from yolov4.models import build_sections

DTYPES = {"off": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048,
                reps: int = 5) -> float:
    """Best-of-``reps`` ``n x n`` matmul throughput in GFLOP/s (2 n^3 per product)."""
    if device.type == "cuda":
        n = max(n, 8192)                      # big enough to saturate a GPU
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    if device.type == "cuda":   # fp32 convolutions use TF32 by default: so does the reference
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
    try:
        torch.mm(a, b)
        sync(device)
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            torch.mm(a, b)
            sync(device)
            best = min(best, time.perf_counter() - t)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return 2 * n ** 3 / best / 1e9


def make_targets(batch: int, size: int, classes: int = 80) -> torch.Tensor:
    """4 random boxes per image, rows ``(image, class, x1, y1, x2, y2)`` in pixels."""
    g = torch.Generator().manual_seed(0)
    rows = []
    for b in range(batch):
        xy = torch.rand(4, 2, generator=g) * size * 0.7
        wh = 20 + torch.rand(4, 2, generator=g) * size * 0.25
        cls = torch.randint(0, classes, (4, 1), generator=g).float()
        rows.append(torch.cat([torch.full((4, 1), float(b)), cls, xy, xy + wh], 1))
    return torch.cat(rows)


def build_step(args: argparse.Namespace, device: torch.device) -> tuple:
    """``(step() -> seconds, forward GFLOP per image)`` with the requested switches."""
    sections = build_sections(args.model, classes=80, width=args.size, height=args.size)
    net = Darknet.from_cfg(sections).to(device).train()
    fwd_gflops = sum(sp.bflops for sp in net.specs)          # per image, Darknet's BFLOPS
    if args.channels_last:
        net.to(memory_format=torch.channels_last)
    model = torch.compile(net) if args.compile else net
    loss_fn = YoloLoss(net)
    opt = build_optimizer(net, {"learning_rate": 0.001, "momentum": 0.9, "decay": 0.0005})
    apply_lr(opt, 0.001)
    dtype = DTYPES[args.amp]
    amp = dtype != torch.float32
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    targets = make_targets(args.batch, args.size).to(device)

    def step() -> float:
        sync(device)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            outputs = model(x)
        total, _ = loss_fn(outputs, targets, (args.size, args.size))
        loss = total / args.batch
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        sync(device)
        return time.perf_counter() - t

    return step, fwd_gflops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--amp", choices=sorted(DTYPES), default="off",
                    help="autocast dtype (fp16 adds loss scaling); cpu supports bf16")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network")
    ap.add_argument("--model", default="yolov4-tiny")
    ap.add_argument("--size", type=int, default=416)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    torch.manual_seed(0)
    step, fwd_gflops = build_step(args, device)
    dtype = DTYPES[args.amp]
    peak_before = matmul_peak(device, dtype)
    warm: Callable[[], float] = step
    for _ in range(3 if args.compile else 1):                # warm-up (compilation)
        warm()
    times = [step() for _ in range(args.steps)]
    peak_after = matmul_peak(device, dtype)
    peak = max(peak_before, peak_after)
    t = min(times)
    achieved = 3 * fwd_gflops * args.batch / t
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, torch threads {torch.get_num_threads()}")
    switches = ", ".join(s for s in (f"amp {args.amp}" if args.amp != "off" else "",
                                     "channels-last" if args.channels_last else "",
                                     "compile" if args.compile else "") if s) or "fp32 eager"
    print(f"{args.model} {args.size}x{args.size}, batch {args.batch}, {where}; {switches}")
    print(f"{'quantity':<34}{'value':>12}")
    print(f"{'forward GFLOP / image (Darknet)':<34}{fwd_gflops:>12.3f}")
    print(f"{'step time best / median (s)':<34}{t:>6.3f} / {sorted(times)[len(times) // 2]:.3f}")
    print(f"{'images / s':<34}{args.batch / t:>12.2f}")
    print(f"{'achieved GFLOP/s (3 x fwd)':<34}{achieved:>12.1f}")
    print(f"{'matmul peak GFLOP/s (' + str(dtype).replace('torch.', '') + ')':<34}{peak:>12.1f}")
    print(f"{'ratio achieved / peak':<34}{achieved / peak:>11.1%}")


if __name__ == "__main__":
    main()
