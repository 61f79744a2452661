"""Property tests of mosaic, MixUp and CutMix against the colour-rectangle oracle, plus
Darknet's mosaic numbers (cut point range, full-canvas scale) checked against cv2.resize."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from _transform_oracle import PALETTE, RULES, check, colour_mask, scene
from yolov4.data.transforms import mixing as X
from yolov4.data.transforms import mosaic as M
from yolov4.data.transforms.image_aug import ImageAug

SEEDS = range(10)
# no photometric change, so the colours stay readable
GEOM = ImageAug(jitter=0.3, resize=1.5, flip=True)


def _four(seed):
    rng = np.random.default_rng(500 + seed)
    groups = [(0, 1), (2, 3), (4, 5), (6,)]
    return [scene(rng, int(rng.integers(80, 160)), int(rng.integers(80, 160)), g,
                  min_side=15, max_side=50) for g in groups]


@pytest.mark.parametrize("seed", SEEDS)
def test_mosaic_moves_boxes_with_pixels(seed):
    out = M.mosaic4(_four(seed), np.random.default_rng(seed), (128, 160), GEOM, RULES)
    assert out[0].shape == (128, 160, 3)
    check(*out)


def test_mosaic_cut_point_range():
    # rand_int(int(0.2*160), int(0.8*160)) = [32, 128], and [25, 102] for h = 128
    rng = np.random.default_rng(0)
    cuts = np.array([M.draw_cut(rng, 160, 128) for _ in range(3000)])
    assert cuts[:, 0].min() == 32 and cuts[:, 0].max() == 128
    assert cuts[:, 1].min() == 25 and cuts[:, 1].max() == 102


def test_mosaic_quadrants_are_full_canvas_corners():
    """jitter 0, no flip: quadrant k is the corner of image k resized to the full canvas that
    is nearest the canvas centre (Darknet keeps full-canvas scale); oracle: cv2.resize."""
    rng = np.random.default_rng(3)
    parts = [(rng.integers(0, 256, (90, 110, 3), dtype=np.uint8), np.zeros((0, 4), np.float32),
              np.zeros(0, np.int64)) for _ in range(4)]
    h, w = 96, 128
    aug = ImageAug(jitter=0.0, flip=False)
    canvas, _, _ = M.mosaic4(parts, np.random.default_rng(7), (h, w), aug)
    cx, cy = M.draw_cut(np.random.default_rng(7), w, h)  # the same first draws
    full = [cv2.resize(p[0], (w, h), interpolation=cv2.INTER_LINEAR).astype(int) for p in parts]
    pairs = [(canvas[:cy, :cx], full[0][h - cy:, w - cx:]),
             (canvas[:cy, cx:], full[1][h - cy:, :w - cx]),
             (canvas[cy:, :cx], full[2][:h - cy, w - cx:]),
             (canvas[cy:, cx:], full[3][:h - cy, :w - cx])]
    for got, ref in pairs:
        assert got.shape == ref.shape
        # warpAffine places samples on a 1/32 px grid, cv2.resize on 1/2048: on a noise image
        # that is a few grey levels; a one-pixel shift would be ~80 on average
        diff = np.abs(got.astype(int) - ref)
        assert diff.max() <= 4 and diff.mean() < 0.6


def _half(rng, colours, right):
    """A 96x128 scene whose objects lie in the left (or right) half only."""
    img, boxes, labels = scene(rng, 96, 64, colours)
    out = np.zeros((96, 128, 3), np.uint8)
    if right:
        out[:, 64:] = img
        boxes = boxes + np.array([64, 0, 64, 0], np.float32)
    else:
        out[:, :64] = img
    return out, boxes, labels


@pytest.mark.parametrize("seed", SEEDS)
def test_mixup_blends_and_unites(seed):
    rng = np.random.default_rng(seed)
    a, b = _half(rng, (0, 1, 2), False), _half(rng, (3, 4, 5), True)
    image, boxes, labels = X.mixup(a, b)
    ref = (a[0].astype(np.float64) + b[0]) / 2  # Darknet: 0.5/0.5 in float
    assert np.abs(image - ref).max() <= 0.5 + 1e-9
    assert np.array_equal(boxes, np.concatenate([a[1], b[1]]))
    assert np.array_equal(labels, np.concatenate([a[2], b[2]]))
    # the objects lie on black, so doubling the blend brings their colours back
    check(np.clip(image.astype(int) * 2, 0, 255).astype(np.uint8), boxes, labels)


@pytest.mark.parametrize("seed", SEEDS)
def test_cutmix_keeps_boxes_by_visible_fraction(seed):
    rng = np.random.default_rng(seed)
    a = scene(rng, 96, 128, (0, 1, 2), min_side=15, max_side=45)
    b = scene(rng, 96, 128, (3, 4, 5), min_side=15, max_side=45)
    out = X.random_cutmix(a, b, rng, RULES)
    check(*out, tight=False)
    # every object of a or b whose colour is still visible over >= 3x3 px keeps a box
    for c in range(6):
        mask = colour_mask(out[0], c).astype(np.uint8)
        if cv2.erode(mask, np.ones((4, 4), np.uint8)).any():
            assert c in out[2].tolist(), f"visible object {c} lost its box"


def test_cutmix_shrinks_a_box_cut_along_a_side():
    a_img = np.zeros((50, 50, 3), np.uint8)
    a_img[10:40, 10:40] = PALETTE[0]
    a = (a_img, np.array([[10, 10, 40, 40]], np.float32), np.array([0], np.int64))
    b = (np.zeros((50, 50, 3), np.uint8), np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    image, boxes, labels = X.cutmix(a, b, (0, 0, 25, 50))  # hides the left 15 px of the box
    assert labels.tolist() == [0] and np.allclose(boxes, [[25, 10, 40, 40]])
    image, boxes, labels = X.cutmix(a, b, (5, 5, 45, 45))  # swallows the object
    assert len(labels) == 0
