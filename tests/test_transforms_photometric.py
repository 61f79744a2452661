"""Photometric transforms: boxes pass through unchanged; HSV/blur/noise values derived by hand."""
from __future__ import annotations

import numpy as np
import pytest

from _transform_oracle import scene
from yolov4.data.transforms import photometric as P


def _px(rgb):
    return np.array(rgb, np.uint8).reshape(1, 1, 3)


@pytest.mark.parametrize("fn,kw", [
    (P.random_hsv, dict(hue=0.5, saturation=2.0, exposure=2.0)),
    (P.random_blur, dict(blur=5)),
    (P.gaussian_noise, dict(sigma=20, p=1.0)),
])
def test_photometric_leaves_boxes_unchanged(fn, kw):
    for seed in range(5):
        rng = np.random.default_rng(seed)
        image, boxes, labels = scene(rng, 64, 80, (0, 1, 2))
        out, b, lab = fn(image.copy(), boxes.copy(), labels.copy(), rng, **kw)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.array_equal(b, boxes) and np.array_equal(lab, labels)


def test_hsv_hand_derived():
    # identity: nothing changes (Darknet skips the conversion)
    img = _px((200, 100, 50))
    assert P.apply_hsv(img, 0.0, 1.0, 1.0) is img
    # exposure .5 on grey 200: V = 200 -> 100, S = 0 -> (100, 100, 100)
    assert P.apply_hsv(_px((200, 200, 200)), 0, 1, 0.5)[0, 0].tolist() == [100, 100, 100]
    # saturation 0: S -> 0, V = max = 200 -> (200, 200, 200)
    assert P.apply_hsv(img, 0, 0.0, 1)[0, 0].tolist() == [200, 200, 200]
    # hue +1/3: red H = 0 -> 0 + 179/3 = 59.67 -> 60 (of 180) = 120 degrees = green
    assert P.apply_hsv(_px((255, 0, 0)), 1 / 3, 1, 1)[0, 0].tolist() == [0, 255, 0]
    # hue -1/3 on red saturates at H = 0 (OpenCV's uint8 arithmetic, as in Darknet): stays red
    assert P.apply_hsv(_px((255, 0, 0)), -1 / 3, 1, 1)[0, 0].tolist() == [255, 0, 0]
    # exposure 2 saturates V at 255: (100, 50, 0) -> V 200... (200, 100, 0)
    assert P.apply_hsv(_px((100, 50, 0)), 0, 1, 2.0)[0, 0].tolist() == [200, 100, 0]


def test_rand_scale_range_and_symmetry():
    rng = np.random.default_rng(0)
    v = np.array([P.rand_scale(rng, 1.5) for _ in range(4000)])
    assert v.min() >= 1 / 1.5 - 1e-9 and v.max() <= 1.5 + 1e-9
    assert 0.45 < (v >= 1).mean() < 0.55  # reciprocal with probability 1/2


def test_blur_mode_1_restores_objects():
    rng = np.random.default_rng(1)
    image, boxes, labels = scene(rng, 64, 80, (0, 1))
    image[::2] //= 2  # some background texture to blur
    out = P.apply_blur(image, boxes, 1)
    for x0, y0, x1, y1 in boxes.astype(int):
        assert np.array_equal(out[y0:y1, x0:x1], image[y0:y1, x0:x1])
    assert not np.array_equal(out, image)
    assert P.draw_blur(rng, 0) == 0
    assert {P.draw_blur(rng, 7) for _ in range(200)} == {0, 1, 7}


def test_gaussian_noise_only_brightens():
    image = np.full((32, 32, 3), 100, np.uint8)
    out, _, _ = P.gaussian_noise(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                                 np.random.default_rng(0), sigma=30, p=1.0)
    assert (out >= image).all() and (out > image).any()
    # about half of the samples are negative and clip to 0: roughly half the pixels unchanged
    assert 0.4 < (out == image).mean() < 0.6
