"""Occlusion transforms: boxes unchanged, every labelled object keeps >= min_visible visible."""
from __future__ import annotations

import numpy as np
import pytest

from _transform_oracle import check, scene
from yolov4.data.transforms import occlusion as O

CASES = [
    (O.cutout, dict(n_holes=4, size=(0.2, 0.5))),
    (O.random_erasing, dict(p=1.0, scale=(0.2, 0.6))),
    (O.hide_and_seek, dict(grid_sizes=(8, 16), p_hide=0.6)),
    (O.gridmask, dict(d_range=(16, 40), keep_ratio=0.4, p=1.0)),
]


def _visible(before, after, box):
    x0, y0, x1, y1 = box.astype(int)
    return (before[y0:y1, x0:x1] == after[y0:y1, x0:x1]).all(-1).mean()


@pytest.mark.parametrize("fn,kw", CASES)
def test_occluders_keep_objects_visible(fn, kw):
    changed = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        image, boxes, labels = scene(rng, 96, 128, (0, 1, 2, 3), min_side=10, max_side=40)
        out, b, lab = fn(image, boxes, labels, rng, min_visible=0.3, **kw)
        assert np.array_equal(b, boxes) and np.array_equal(lab, labels)
        changed += not np.array_equal(out, image)
        for box in boxes:
            assert _visible(image, out, box) >= 0.3 - 1e-9
        check(out, b, lab, tight=False)
    assert changed >= 6  # the occluders do occlude


def test_hole_over_a_whole_object_is_cleared():
    image = np.zeros((40, 40, 3), np.uint8)
    image[10:20, 10:20] = 255
    boxes = np.array([[10, 10, 20, 20]], np.float32)
    mask = np.ones((40, 40), np.uint8)
    O.protect_objects(mask, boxes, 0.3)
    assert mask[10:20, 10:20].sum() == 0 and mask[:10].all()
    # hide everything: background all filled, the object untouched
    out, _, _ = O.hide_and_seek(image, boxes, np.array([0]), np.random.default_rng(0),
                                grid_sizes=(8,), p_hide=1.0, fill=(7, 7, 7))
    assert (out[10:20, 10:20] == 255).all() and (out[:10] == 7).all()
