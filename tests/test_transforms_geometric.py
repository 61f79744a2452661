"""Property tests of the geometric transforms against the colour-rectangle oracle, plus
Darknet's crop numbers derived by hand."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from _transform_oracle import RULES, check, scene
from yolov4.data.transforms import geometric as G
from yolov4.data.transforms.boxes import BoxRules, clip_and_filter

SEEDS = range(12)


def _scene(seed, h=120, w=160, colours=(0, 1, 2, 3)):
    return scene(np.random.default_rng(1000 + seed), h, w, colours)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("letter_box", [False, True])
def test_jitter_resize_moves_boxes_with_pixels(seed, letter_box):
    image, boxes, labels = _scene(seed)
    rng = np.random.default_rng(seed)
    out = G.jitter_resize(image, boxes, labels, rng, (96, 128), jitter=0.3, resize=1.5,
                          letter_box=letter_box, flip=True, rules=RULES)
    assert out[0].shape == (96, 128, 3)
    check(*out)


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_translate_scale_is_tight(seed):
    image, boxes, labels = _scene(seed)
    out = G.random_affine(image, boxes, labels, np.random.default_rng(seed), translate=0.3,
                          scale=0.5, rules=RULES)
    check(*out)


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_rotation_shear_boxes_fit_the_visible_object(seed):
    image, boxes, labels = _scene(seed)
    out = G.random_affine(image, boxes, labels, np.random.default_rng(seed), degrees=30,
                          translate=0.2, scale=0.3, shear=10, rules=RULES)
    check(*out)


def test_flip_resize_letterbox():
    image, boxes, labels = _scene(0)
    check(*G.hflip(image, boxes, labels))
    check(*G.resize(image, boxes, labels, (200, 90)))
    out = G.letterbox(image, boxes, labels, 128)
    assert out[0].shape == (128, 128, 3)
    # 160x120 -> 128x96, centred vertically: pad (128 - 96) // 2 = 16 rows of grey 127
    assert (out[0][:16] == 127).all() and (out[0][-16:] == 127).all()
    check(*out)
    # flip twice is the identity
    twice = G.hflip(*G.hflip(image, boxes, labels))
    assert np.array_equal(twice[0], image) and np.allclose(twice[1], boxes)


def test_resize_warp_equals_cv2_resize():
    """The continuous-coordinate warp of diag(sx, sy) samples like cv2.resize (the oracle)."""
    image = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    warped = G.warp(image, np.array([[1.6, 0, 0], [0, 0.8, 0]]), (128, 48), (0, 0, 0))
    ref = cv2.resize(image, (128, 48), interpolation=cv2.INTER_LINEAR)
    assert np.abs(warped.astype(int) - ref.astype(int))[2:-2, 2:-2].max() <= 2


class _FixedRng:
    """Stands in for a Generator: ``random(n)`` returns preset values."""

    def __init__(self, values):
        self.values = np.asarray(values, float)

    def random(self, n=None):
        return self.values[:n] if n is not None else float(self.values[0])


def test_draw_crop_follows_darknet_numbers():
    # ow=100, oh=50, jitter=.3: dw = (int)(30.0) = 30, dh = 15.
    # pleft = (int)(0*60 - 30) = -30, pright = (int)(1*60 - 30) = 30,
    # ptop = (int)(.5*30 - 15) = 0, pbot = (int)(.25*30 - 15) = (int)(-7.5) = -7.
    crop = G.draw_crop(_FixedRng([0, 1, 0.5, 0.25, 0, 0]), 100, 50, 64, 64, jitter=0.3)
    assert (crop.pleft, crop.pright, crop.ptop, crop.pbot) == (-30, 30, 0, -7)
    # resize=2: down = .5 -> min_rdw = (int)(100*(1-2)/2) = -50; up = 2 -> max_rdw = 25
    # (min_rdh = -25, max_rdh = 12); jitter 0; rr1 = 0 -> -50 (-25), rr2 = 1 -> 25 (12).
    crop = G.draw_crop(_FixedRng([0.5, 0.5, 0.5, 0.5, 0, 1]), 100, 50, 64, 64, jitter=0.0,
                       resize=2.0)
    assert (crop.pleft, crop.pright, crop.ptop, crop.pbot) == (-50, 25, -25, 12)


def test_crop_fills_with_image_mean():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, :20] = (200, 100, 0)  # mean = (100, 50, 0)
    crop = G.Crop(pleft=-40, pright=0, ptop=0, pbot=0)  # left half of the output is padding
    out, _, _ = G.apply_crop(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), crop,
                             (40, 40))
    assert np.array_equal(out[5, 5], [100, 50, 0])


def test_box_rules_drop_small_and_mostly_cut_boxes():
    boxes = np.array([[-90, 0, 10, 10],     # 10 % visible, 10x10 after clipping
                      [-5, 0, 1, 10],       # 1 px wide after clipping
                      [5, 5, 50, 50]], np.float32)
    labels = np.array([0, 1, 2], np.int64)
    b, lab = clip_and_filter(boxes, labels, (0, 0, 100, 100), BoxRules(2.0, 0.2))
    assert lab.tolist() == [2]
    b, lab = clip_and_filter(boxes, labels, (0, 0, 100, 100), BoxRules(1.0, 0.0))
    assert lab.tolist() == [0, 1, 2] and np.allclose(b[0], [0, 0, 10, 10])
