"""A small real-photo detection dataset from packages on the registries: handwritten digits on photos.

Backgrounds are random crops of the photographs bundled with scikit-image (astronaut, coffee,
chelsea, rocket, motorcycle, hubble, retina, ...); objects are scikit-learn's bundled handwritten
digits (``load_digits``: 1797 scans of 8x8, 10 classes), enlarged to 20-60 px tall, slightly
rotated and stretched, and pasted with a random ink colour that contrasts with the photo under
them (alpha = the scan's ink intensity). The box of an object is the tight box of its visible
ink. Training images take their digits from the first 1200 scans, validation images from the
other 597, so validation digits are unseen handwriting.

Written in the YOLO layout (``images/{train,val}``, ``labels/{train,val}``, ``data.yaml``),
and, for Darknet (which looks for ``IMAGE.txt`` next to each image), ``darknet/obj.data``,
``obj.names``, ``train.txt``, ``val.txt`` with a copy of each label beside its image under
``darknet/images/``. Deterministic: image ``k`` depends on ``(seed, split, k)`` only.

    pip install scikit-learn scikit-image
    python benchmarks/digits_dataset.py --out runs/digits [--train 600] [--val 200] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
          "hubble_deep_field", "ihc", "motorcycle_left", "motorcycle_right", "retina", "rocket",
          "moon", "page", "text", "clock_motion", "color", "logo", "cell")
NAMES = [str(d) for d in range(10)]
#: Scans 0..TRAIN_SCANS-1 feed training images, the rest validation images.
TRAIN_SCANS = 1200


def load_photos() -> List[np.ndarray]:
    """The bundled scikit-image photos as RGB uint8 arrays (grey ones turned to RGB)."""
    import skimage.data
    out = []
    for name in PHOTOS:
        fn = getattr(skimage.data, name, None)
        if fn is None:
            continue
        try:
            im = np.asarray(fn())
        except Exception:   # a photo this scikit-image would download: not bundled, skip it
            continue
        if im.ndim == 2:
            im = np.stack([im] * 3, -1)
        if im.shape[-1] == 4:
            im = im[..., :3]
        if im.dtype != np.uint8:
            im = (255 * (im.astype(np.float64) / max(float(im.max()), 1e-9))).astype(np.uint8)
        out.append(np.ascontiguousarray(im))
    if len(out) < 5:
        raise SystemExit("scikit-image bundles fewer than 5 of the expected photos")
    return out


def background(rng: np.random.Generator, photos: List[np.ndarray], w: int, h: int) -> np.ndarray:
    """A random crop of a random photo, scaled to ``w x h``, maybe flipped, colour-jittered."""
    im = photos[rng.integers(len(photos))]
    ph, pw = im.shape[:2]
    frac = rng.uniform(0.35, 1.0)
    cw = max(16, int(pw * frac))
    ch = max(16, min(ph, int(cw * h / w)))
    cw = min(pw, cw)
    x0, y0 = rng.integers(0, pw - cw + 1), rng.integers(0, ph - ch + 1)
    crop = cv2.resize(im[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gain = rng.uniform(0.7, 1.3, 3)
    return np.clip(crop.astype(np.float32) * gain, 0, 255)


def digit_alpha(scan: np.ndarray, rng: np.random.Generator, height: int) -> np.ndarray:
    """An 8x8 scan (0-16) enlarged to ``height`` px, stretched and rotated: alpha in [0, 1]."""
    width = max(4, int(round(height * rng.uniform(0.65, 1.0))))
    a = cv2.resize(scan.astype(np.float32) / 16.0, (width, height), interpolation=cv2.INTER_CUBIC)
    a = np.clip((a - 0.15) / 0.6, 0, 1)            # crisper strokes than the raw blur
    angle = rng.uniform(-15, 15)
    diag = int(math.ceil(math.hypot(width, height))) + 2
    canvas = np.zeros((diag, diag), np.float32)
    y0, x0 = (diag - height) // 2, (diag - width) // 2
    canvas[y0:y0 + height, x0:x0 + width] = a
    m = cv2.getRotationMatrix2D((diag / 2, diag / 2), angle, 1.0)
    return np.clip(cv2.warpAffine(canvas, m, (diag, diag), flags=cv2.INTER_LINEAR), 0, 1)


def render(rng: np.random.Generator, photos: List[np.ndarray], scans: np.ndarray,
           targets: np.ndarray) -> Tuple[np.ndarray, List[Tuple[int, float, float, float, float]]]:
    """One image (RGB uint8) and its boxes ``(class, x1, y1, x2, y2)`` in pixels."""
    w = int(rng.choice([320, 352, 384, 416, 448]))
    h = int(rng.choice([320, 352, 384, 416, 448]))
    img = background(rng, photos, w, h)
    taken = np.zeros((h, w), bool)
    boxes = []
    for _ in range(int(rng.integers(1, 7))):
        k = int(rng.integers(len(scans)))
        alpha = digit_alpha(scans[k], rng, int(rng.integers(20, 61)))
        ys, xs = np.nonzero(alpha > 0.3)
        if len(xs) == 0:
            continue
        alpha = alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        ah, aw = alpha.shape
        for _try in range(10):
            x, y = int(rng.integers(0, w - aw + 1)), int(rng.integers(0, h - ah + 1))
            if not taken[max(0, y - 2):y + ah + 2, max(0, x - 2):x + aw + 2].any():
                break
        else:
            continue
        taken[y:y + ah, x:x + aw] = True
        under = img[y:y + ah, x:x + aw]
        mean = under.reshape(-1, 3).mean(0)
        ink = rng.uniform(0, 255, 3)
        if np.abs(ink - mean).mean() < 80:           # keep the digit visible on its background
            ink = np.where(mean > 127, rng.uniform(0, 60, 3), rng.uniform(195, 255, 3))
        a = alpha[..., None] * rng.uniform(0.75, 1.0)
        img[y:y + ah, x:x + aw] = under * (1 - a) + ink * a
        boxes.append((int(targets[k]), float(x), float(y), float(x + aw), float(y + ah)))
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 1.0))
    img = img + rng.normal(0, rng.uniform(0, 6), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), boxes


def write_dataset(out: Path, n_train: int = 600, n_val: int = 200, seed: int = 0) -> Path:
    """Write the dataset under ``out``; return its ``data.yaml``."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    photos = load_photos()
    parts = {"train": (digits.images[:TRAIN_SCANS], digits.target[:TRAIN_SCANS], n_train),
             "val": (digits.images[TRAIN_SCANS:], digits.target[TRAIN_SCANS:], n_val)}
    dk = out / "darknet"
    lists = {}
    for split, (scans, targets, n) in parts.items():
        for sub in ("images", "labels"):
            (out / sub / split).mkdir(parents=True, exist_ok=True)
        (dk / "images" / split).mkdir(parents=True, exist_ok=True)
        lists[split] = []
        for k in range(n):
            rng = np.random.default_rng([seed, 0 if split == "train" else 1, k])
            img, boxes = render(rng, photos, scans, targets)
            h, w = img.shape[:2]
            stem = f"{split}_{k:05d}"
            image_path = out / "images" / split / f"{stem}.jpg"
            cv2.imwrite(str(image_path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 92])
            text = "".join(f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                           f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n"
                           for c, x1, y1, x2, y2 in boxes)
            (out / "labels" / split / f"{stem}.txt").write_text(text)
            link = dk / "images" / split / f"{stem}.jpg"
            if not link.exists():
                os.symlink(image_path.resolve(), link)
            (dk / "images" / split / f"{stem}.txt").write_text(text)
            lists[split].append(str(link.absolute()))   # the link: its label is beside it
    (out / "data.yaml").write_text(
        f"# handwritten digits (scikit-learn) on photos (scikit-image): "
        f"benchmarks/digits_dataset.py --train {n_train} --val {n_val} --seed {seed}\n"
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\nnc: 10\n"
        f"names: [{', '.join(NAMES)}]\n")
    for split, paths in lists.items():
        (dk / f"{split}.txt").write_text("".join(p + "\n" for p in paths))
    (dk / "obj.names").write_text("".join(n + "\n" for n in NAMES))
    (dk / "obj.data").write_text(
        f"classes = 10\ntrain = {(dk / 'train.txt').resolve()}\nvalid = {(dk / 'val.txt').resolve()}\n"
        f"names = {(dk / 'obj.names').resolve()}\nbackup = {(dk / 'backup').resolve()}\n")
    (dk / "backup").mkdir(exist_ok=True)
    return out / "data.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/digits")
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    path = write_dataset(Path(args.out), args.train, args.val, args.seed)
    print(f"wrote {path} ({args.train} train, {args.val} val images) and "
          f"{Path(args.out) / 'darknet' / 'obj.data'}")


if __name__ == "__main__":
    main()
