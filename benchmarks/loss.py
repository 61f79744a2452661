"""Time of ``YoloLoss`` (forward + backward to the raw outputs) on YOLOv4-sized heads.

Prints a table: per configuration the loss time and, measured in the same run, a *floor*: one
dense BCE-with-logits over every raw output plus its backward (no assignment at all), and
their ratio. Random outputs and truths; CPU unless ``--device cuda``.

    python benchmarks/loss.py [--device cpu] [--threads 1] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from yolov4.loss import LayerSpec, YoloLoss

ANCHORS = [12, 16, 19, 36, 40, 28, 36, 75, 76, 55, 72, 146, 142, 110, 192, 243, 459, 401]
HEADS = (([0, 1, 2], 1.2, 8), ([3, 4, 5], 1.1, 16), ([6, 7, 8], 1.05, 32))


def make(size: int, batch: int, truths: int, device: str):
    g = torch.Generator().manual_seed(0)
    zs = [torch.randn(batch, 3, size // st, size // st, 85, generator=g).to(device).requires_grad_()
          for _, _, st in HEADS]
    m = batch * truths
    xy = torch.rand(m, 2, generator=g) * (size - 110)
    wh = torch.rand(m, 2, generator=g) * 100 + 4
    t = torch.cat((torch.arange(m)[:, None] % batch, torch.randint(0, 80, (m, 1), generator=g),
                   xy, xy + wh), 1).float().to(device)
    return zs, t


def timed(fn, repeat: int, device: str) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"| input | batch | truths/img | iou_loss | loss ms | dense-BCE floor ms | ratio |")
    print("|---|---|---|---|---|---|---|")
    for size, batch, truths, kind in ((416, 4, 20, "ciou"), (608, 4, 30, "ciou"),
                                      (608, 4, 30, "mse"), (608, 8, 60, "ciou")):
        specs = [LayerSpec(anchors=ANCHORS, mask=m, classes=80, iou_loss=kind, scale_x_y=s,
                           iou_thresh=0.213, iou_normalizer=0.07, ignore_thresh=0.7)
                 for m, s, _ in HEADS]
        loss = YoloLoss(specs=specs)
        zs, t = make(size, batch, truths, args.device)

        def run_loss():
            total, _ = loss(zs, t, (size, size))
            total.backward()

        def run_floor():
            total = sum(F.binary_cross_entropy_with_logits(z, torch.zeros_like(z), reduction="sum")
                        for z in zs)
            total.backward()

        a = timed(run_loss, args.repeat, args.device)
        b = timed(run_floor, args.repeat, args.device)
        print(f"| {size} | {batch} | {truths} | {kind} | {a * 1e3:.0f} | {b * 1e3:.0f} | "
              f"{a / b:.1f} |")


if __name__ == "__main__":
    main()
