"""Images/s of the training augmentation pipeline on one core (prints a table).

Measures the full YOLOv4 training pipeline (Darknet mosaic of four images + random affine + HSV +
flip, jitter .3) with and without MixUp/CutMix at 416 and 608, in one process with OpenCV and
torch limited to one thread — i.e. what one loader worker delivers. Images are generated here
(640x480 textured scenes with 2-8 boxes), held decoded in RAM ("aug" column: augmentation only)
or as JPEG bytes decoded per use ("+decode" column: what a worker reading files does). The
reference in the same run is the evaluation path (letterbox only). Rates are images per CPU
second of the process (per core), since the machine may be shared. Target: >= 100 images/s per
core at 608.

    python benchmarks/dataloader.py [--images 200] [--sizes 416 608]
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from yolov4.data.loader import collate, train_loader
from yolov4.data.sample import Sample
from yolov4.data.transforms import AugmentConfig, TrainPipeline, letterbox


def make_images(n: int, seed: int = 0, h: int = 480, w: int = 640):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = cv2.resize(rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8), (w, h))
        image = cv2.add(base, rng.integers(0, 40, (h, w, 3), dtype=np.uint8))
        k = int(rng.integers(2, 9))
        wh = rng.uniform(20, 250, (k, 2))
        xy = rng.uniform(0, 1, (k, 2)) * (np.array([w, h]) - wh)
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        for (x0, y0, x1, y1) in boxes.astype(int):
            cv2.rectangle(image, (x0, y0), (x1, y1), tuple(int(c) for c in rng.integers(0, 256, 3)),
                          -1)
        out.append(Sample(image, boxes, rng.integers(0, 80, k), f"synthetic_{i}.jpg"))
    return out


class MemoryDataset:
    def __init__(self, samples, encoded: bool):
        self.names = [str(i) for i in range(80)]
        self.paths = [s.path for s in samples]
        self.samples = samples
        self.encoded = [cv2.imencode(".jpg", s.image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
                        for s in samples] if encoded else None

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        s = self.samples[i]
        if self.encoded is None:
            return s
        image = cv2.imdecode(self.encoded[i], cv2.IMREAD_COLOR)
        return Sample(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), s.boxes, s.labels, s.path)


def rate(fn, n: int) -> float:
    """Images per CPU second of this process (= per core; the machine may be shared, so wall
    time would also count other people's work)."""
    fn(0)  # warm-up
    t = time.process_time()
    for i in range(n):
        fn(i)
    return n / (time.process_time() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200, help="outputs per measurement")
    ap.add_argument("--sizes", type=int, nargs="+", default=[416, 608])
    args = ap.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    samples = make_images(64)
    plain, encoded = MemoryDataset(samples, False), MemoryDataset(samples, True)
    base = dict(jitter=0.3, hue=0.1, saturation=1.5, exposure=1.5, flip=True, mosaic=True,
                mosaic_prob=1.0, degrees=5, translate=0.1, scale=0.25, shear=2)
    configs = [("mosaic+affine+HSV+flip", AugmentConfig(**base)),
               ("  + mixup", AugmentConfig(**base, mixup=True, mixup_prob=1.0)),
               ("  + cutmix", AugmentConfig(**base, cutmix=True, cutmix_prob=1.0)),
               ("yolov4.cfg (mosaic p=.5, no affine)",
                AugmentConfig(jitter=0.3, hue=0.1, saturation=1.5, exposure=1.5, mosaic=True))]
    n = args.images
    print(f"images/s per core (CPU time; cv2/torch threads = 1), {n} outputs each, sources "
          f"640x480; 'loader wall' uses wall-clock time (affected by other load)")
    print("| pipeline | size | aug | +JPEG decode | loader (batch 8, collate) | loader wall | "
          "ms/img (aug) | aug vs 100/s |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for name, cfg in configs:
            rng = np.random.default_rng(0)
            p1, p2 = TrainPipeline(plain, cfg), TrainPipeline(encoded, cfg)
            r_aug = rate(lambda i: p1(i % 64, (size, size), rng), n)
            r_dec = rate(lambda i: p2(i % 64, (size, size), rng), n)
            loader = train_loader(plain, cfg, batch_size=8, shapes=size, seed=0)
            t, w0 = time.process_time(), time.perf_counter()
            count = 0
            while count < n:
                for images, _, _ in loader:
                    count += images.shape[0]
                    if count >= n:
                        break
            r_load = count / (time.process_time() - t)
            r_wall = count / (time.perf_counter() - w0)
            print(f"| {name} | {size} | {r_aug:.0f} | {r_dec:.0f} | {r_load:.0f} | "
                  f"{r_wall:.0f} | {1000 / r_aug:.1f} | {r_aug / 100:.2f}x |")
        r_ref = rate(lambda i: collate([(*letterbox(*(lambda s: (s.image, s.boxes, s.labels))(
            plain[i % 64]), size), "")]), n)
        print(f"| reference: letterbox only (eval path) + collate | {size} | {r_ref:.0f} | | | | "
              f"{1000 / r_ref:.1f} | |")


if __name__ == "__main__":
    main()
