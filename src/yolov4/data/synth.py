"""The built-in synthetic detection dataset: shapes on cluttered backgrounds, in the YOLO layout.

Each scene holds a few objects whose class is their **shape** (circle, triangle, square, star,
cross, ring, hexagon, arrow — the first ``classes`` of :data:`SHAPES`). Everything else is random
per object so that only shape identifies the class: size, aspect ratio, rotation, colour, texture
(solid, noisy, stripes, gradient). Objects partly occlude each other (every object keeps at least
:data:`MIN_VISIBLE` of its area), backgrounds are gradients with blotchy low-frequency noise,
blurred blobs and distractor lines/curves, and thin lines are drawn over objects too. The box of
an object is the tight box of its **visible** pixels (``[x_min, x_max + 1)``).

Scenes are deterministic: image ``k`` depends only on ``(seed, k, size, classes)``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ..errors import DataError

#: Object classes, in label order.
SHAPES = ("circle", "triangle", "square", "star", "cross", "ring", "hexagon", "arrow")
#: Fraction of its own area every object keeps visible (image border and occluders).
MIN_VISIBLE = 0.6


def _regular(n: int, phase: float = 0.0) -> np.ndarray:
    a = np.arange(n) * 2 * math.pi / n + phase
    return np.stack([np.cos(a), np.sin(a)], 1)


def _outline(shape: str, rng: np.random.Generator) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Unit outline (points in about [-1, 1]^2) and an optional hole outline."""
    if shape == "circle":
        return _regular(48), None
    if shape == "ring":
        return _regular(48), _regular(48) * rng.uniform(0.45, 0.65)
    if shape == "triangle":
        return _regular(3, -math.pi / 2) + rng.uniform(-0.08, 0.08, (3, 2)), None
    if shape == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8, None
    if shape == "hexagon":
        return _regular(6), None
    if shape == "star":
        inner = rng.uniform(0.38, 0.5)
        pts = _regular(10, -math.pi / 2)
        pts[1::2] *= inner
        return pts, None
    if shape == "cross":
        t = rng.uniform(0.25, 0.4)
        return np.array([[-t, -1], [t, -1], [t, -t], [1, -t], [1, t], [t, t], [t, 1], [-t, 1],
                         [-t, t], [-1, t], [-1, -t], [-t, -t]], float), None
    if shape == "arrow":
        t, head = rng.uniform(0.2, 0.32), rng.uniform(0.0, 0.25)
        return np.array([[-1, -t], [head, -t], [head, -0.75], [1, 0], [head, 0.75], [head, t],
                         [-1, t]], float), None
    raise DataError(f"unknown synthetic shape {shape!r}")


def _colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(60, 256), rng.integers(60, 256)]]],
                   np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _background(rng: np.random.Generator, size: int, clutter: float = 1.0) -> np.ndarray:
    c1, c2 = _colour(rng), _colour(rng)
    phi = rng.uniform(0, 2 * math.pi)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    t = np.clip(np.add.outer(ramp * math.sin(phi), ramp * math.cos(phi)) * 0.7 + 0.15, 0, 1)
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    blotch = cv2.resize(rng.normal(0, 1, (6, 6, 3)).astype(np.float32), (size, size),
                        interpolation=cv2.INTER_CUBIC)
    img += blotch * rng.uniform(10, 35) * clutter
    small = max(size // 4, 8)
    for _ in range(int(rng.integers(0, 4) * clutter + 0.5)):  # soft blobs at 1/4 size, blurred up
        layer = np.zeros((small, small), np.float32)
        centre = tuple(int(v) for v in rng.integers(0, small, 2))
        axes = tuple(int(v) for v in rng.integers(max(small // 12, 1), max(small // 4, 2), 2))
        cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        layer = cv2.resize(cv2.GaussianBlur(layer, (0, 0), small / 30), (size, size),
                           interpolation=cv2.INTER_LINEAR)[..., None] * rng.uniform(0.3, 0.7)
        img = img * (1 - layer) + _colour(rng) * layer
    for _ in range(int(rng.integers(2, 9) * clutter + 0.5)):  # distractor lines and curves
        pts = rng.integers(-size // 4, size + size // 4, (rng.integers(2, 5), 2)).astype(np.int32)
        cv2.polylines(img, [pts], False, _colour(rng).tolist(), int(rng.integers(1, 4)),
                      cv2.LINE_AA)
    return img


def _texture(rng: np.random.Generator, h: int, w: int, colour: np.ndarray) -> np.ndarray:
    kind = rng.integers(0, 4)
    base = np.broadcast_to(colour, (h, w, 3)).astype(np.float32)
    if kind == 0:
        return base.copy()
    if kind == 1:
        return base + rng.standard_normal((h, w, 1), np.float32) * rng.uniform(8, 25)
    other = np.clip(colour * rng.uniform(0.4, 0.8) + rng.uniform(-40, 40, 3), 0, 255)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phi = rng.uniform(0, math.pi)
    proj = xx * math.cos(phi) + yy * math.sin(phi)
    if kind == 2:  # stripes
        t = (np.floor(proj / rng.uniform(3, 8)) % 2)[..., None]
    else:  # gradient
        t = ((proj - proj.min()) / max(float(np.ptp(proj)), 1.0))[..., None]
    return base * (1 - t) + other * t


def _place_object(rng: np.random.Generator, shape: str, size: int, owner: np.ndarray,
                  areas: List[float]) -> Optional[Tuple[np.ndarray, float]]:
    """Up to 12 draws of a pose for one ``shape``; the first that stays visible (MIN_VISIBLE of
    its area) and leaves every object already placed visible. Returns ``(mask bool[size,
    size], full area in pixels)`` or None."""
    for _attempt in range(12):
        outline, hole = _outline(shape, rng)
        r = rng.uniform(0.06, 0.2) * size
        aspect = math.exp(rng.uniform(-0.35, 0.35))
        theta = rng.uniform(0, 2 * math.pi)
        cos, sin = math.cos(theta), math.sin(theta)
        rot = np.array([[cos, -sin], [sin, cos]])
        centre = rng.uniform(0.5 * r, size - 0.5 * r, 2)
        scale = np.array([r * math.sqrt(aspect), r / math.sqrt(aspect)])

        def place(pts: np.ndarray) -> np.ndarray:
            return ((pts * scale) @ rot.T + centre) * 16  # 4 fractional bits

        outer = np.round(place(outline)).astype(np.int32)
        full = cv2.contourArea(outer.astype(np.float32)) / 256
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [outer], 1, cv2.LINE_8, 4)
        if hole is not None:
            inner = np.round(place(hole)).astype(np.int32)
            full -= cv2.contourArea(inner.astype(np.float32)) / 256
            cv2.fillPoly(mask, [inner], 0, cv2.LINE_8, 4)
        m = mask.astype(bool)
        if full <= 0 or m.sum() < MIN_VISIBLE * full:
            continue
        if all(np.count_nonzero((owner == k) & ~m) >= MIN_VISIBLE * areas[k]
               for k in range(len(areas))):
            return m, full
    return None


def render_scene(rng: np.random.Generator, size: int = 256, classes: int = 5,
                 max_objects: int = 6, return_owner: bool = False, clutter: float = 1.0) -> tuple:
    """Render one scene. ``clutter`` scales the background noise and the number of blobs and
    distractor lines (0 = clean gradient backgrounds, 1 = default, more = harder).

    Returns:
        ``(image uint8[size, size, 3] RGB, boxes float32[N, 4] xyxy pixels, labels int64[N])``,
        plus with ``return_owner`` the ``int16[size, size]`` map of which object (index into the
        returned boxes) each pixel shows, ``-1`` for background.
    """
    if not 1 <= classes <= len(SHAPES):
        raise DataError(f"synthetic classes must be 1..{len(SHAPES)}, got {classes}")
    img = _background(rng, size, clutter)
    owner = np.full((size, size), -1, np.int16)
    areas: List[float] = []
    labels: List[int] = []
    count = 0 if rng.random() < 0.04 else int(rng.integers(1, max_objects + 1))
    for _ in range(count):
        cls = int(rng.integers(0, classes))
        placed = _place_object(rng, SHAPES[cls], size, owner, areas)
        if placed is None:
            continue
        m, full = placed
        ys, xs = np.nonzero(m)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        bg_mean = img[y0:y1, x0:x1][m[y0:y1, x0:x1]].mean(0)
        colour = _colour(rng)
        for _ in range(6):  # keep the object visible against its background
            if np.abs(colour - bg_mean).sum() > 120:
                break
            colour = _colour(rng)
        tex = _texture(rng, y1 - y0, x1 - x0, colour)
        crop = img[y0:y1, x0:x1]
        crop[m[y0:y1, x0:x1]] = tex[m[y0:y1, x0:x1]]
        owner[m] = len(areas)
        areas.append(full)
        labels.append(cls)
    over = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(0, 3) * clutter + 0.5)):  # thin lines over objects
        pts = rng.integers(0, size, (2, 2)).astype(np.int32)
        cv2.line(over, tuple(map(int, pts[0])), tuple(map(int, pts[1])), 1, 1)
        cv2.line(img, tuple(map(int, pts[0])), tuple(map(int, pts[1])), _colour(rng).tolist(), 1)
    owner[over.astype(bool)] = -1
    img += rng.standard_normal(img.shape, np.float32) * rng.uniform(0, 8)
    boxes, kept = [], []
    final = np.full_like(owner, -1)
    for k, cls in enumerate(labels):
        ys, xs = np.nonzero(owner == k)
        if len(xs) < MIN_VISIBLE * areas[k] / 2:
            continue
        final[ys, xs] = len(kept)
        boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        kept.append(cls)
    image = np.clip(img, 0, 255).astype(np.uint8)
    out = (image, np.asarray(boxes, np.float32).reshape(-1, 4),
           np.asarray(kept, np.int64).reshape(-1))
    return out + (final,) if return_owner else out


def generate(out_dir: os.PathLike, *, images: int = 500, classes: int = 5, size: int = 256,
             seed: int = 0, val_fraction: float = 0.2, max_objects: int = 6,
             clutter: float = 1.0) -> Path:
    """Write a synthetic dataset in the YOLO layout and return its ``data.yaml``.

    Layout: ``out_dir/images/{train,val}/NNNNNN.jpg``, ``out_dir/labels/{train,val}/NNNNNN.txt``
    and ``out_dir/data.yaml`` (``names`` = the first ``classes`` of :data:`SHAPES`). The last
    ``round(images * val_fraction)`` images form the validation split. Objects are 12-40 % of
    ``size`` across, at most ``max_objects`` per image; ``clutter`` scales the background
    distractors (see :func:`render_scene`).
    """
    if images < 1 or size < 32 or not 0 <= val_fraction < 1:
        raise DataError(f"synth: need images >= 1, size >= 32, 0 <= val_fraction < 1 (got "
                        f"images={images}, size={size}, val_fraction={val_fraction})")
    out = Path(out_dir)
    n_val = int(round(images * val_fraction))
    if images > 1 and val_fraction > 0:
        n_val = min(max(n_val, 1), images - 1)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for k in range(images):
        split = "val" if k >= images - n_val else "train"
        rng = np.random.default_rng([seed, k, size, classes])
        image, boxes, labels = render_scene(rng, size, classes, max_objects, clutter=clutter)
        stem = f"{k:06d}"
        cv2.imwrite(str(out / "images" / split / f"{stem}.jpg"),
                    cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        lines = [f"{c} {(b[0] + b[2]) / 2 / size:.6f} {(b[1] + b[3]) / 2 / size:.6f} "
                 f"{(b[2] - b[0]) / size:.6f} {(b[3] - b[1]) / size:.6f}"
                 for c, b in zip(labels.tolist(), boxes.tolist())]
        (out / "labels" / split / f"{stem}.txt").write_text("".join(l + "\n" for l in lines))
    names = list(SHAPES[:classes])
    text = (f"# synthetic shapes: yolov4 data synth --images {images} --classes {classes} "
            f"--size {size} --seed {seed} --clutter {clutter:g}\n"
            f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
            f"nc: {classes}\nnames: [{', '.join(names)}]\n")
    (out / "data.yaml").write_text(text)
    return out / "data.yaml"
