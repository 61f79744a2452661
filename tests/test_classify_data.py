"""Classifier data: CutMix / MixUp / Mosaic label weights by hand, Darknet's classifier crop,
folder and Darknet-list datasets with their errors, the loader's determinism."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolov4.data.classes import labels_in_path, load_classification, load_folder
from yolov4.data.classify_check import check_classification
from yolov4.data.classify_loader import classify_loader
from yolov4.data.transforms.classify import (ClassAug, crop_matrix, cutmix, draw_cutmix,
                                             draw_mosaic, mix_code, mixup, mosaic, rand_int)
from yolov4.errors import DataError
from yolov4.loss.classify import smooth_truth


def _flat(value: int, size=(20, 30)) -> np.ndarray:
    return np.full(size + (3,), value, np.uint8)


def test_cutmix_label_is_the_pasted_area():
    # a: class 0, black; b: class 2, white; a 6x5 rectangle of b in a 30x20 image
    ta, tb = smooth_truth(0, 3, 0.1).numpy(), smooth_truth(2, 3, 0.1).numpy()
    image, truth = cutmix(_flat(0), ta, _flat(255), tb, (4, 7, 6, 5))
    white = (image[..., 0] == 255)
    assert white.sum() == 30 and white[7:12, 4:10].all()
    alpha = 30 / 600                                        # by hand: 6*5 / (30*20)
    assert truth.tolist() == pytest.approx([0.9 * (1 - alpha) + 0.05 * alpha, 0.05,
                                            0.05 * (1 - alpha) + 0.9 * alpha])
    assert truth.sum() == pytest.approx(1.0)


def test_mixup_is_half_and_half():
    image, truth = mixup(_flat(0), np.array([1, 0], np.float32), _flat(200),
                         np.array([0, 1], np.float32))
    assert (image == 100).all() and truth.tolist() == [0.5, 0.5]


def test_mosaic_label_weights_are_quadrant_areas():
    images = [_flat(v) for v in (10, 20, 30, 40)]
    truths = [np.eye(4, dtype=np.float32)[k] for k in range(4)]
    image, truth = mosaic(images, truths, (12, 5))          # w=30, h=20, cut at x=12, y=5
    fractions = [float((image[..., 0] == v).mean()) for v in (10, 20, 30, 40)]
    by_hand = [12 * 5 / 600, 18 * 5 / 600, 12 * 15 / 600, 18 * 15 / 600]
    assert fractions == pytest.approx(by_hand) and truth.tolist() == pytest.approx(by_hand)
    assert image[0, 0, 0] == 10 and image[0, 29, 0] == 20 and image[19, 0, 0] == 30


def test_darknet_random_ranges():
    rng = np.random.default_rng(0)
    w, h = 64, 48
    for _ in range(300):                                  # src/data.c: load_data_augment
        x, y, cw, ch = draw_cutmix(rng, w, h)
        assert int(w * 0.3) <= cw <= int(w * 0.8) and int(h * 0.3) <= ch <= int(h * 0.8)
        assert 0 <= x <= w - cw - 1 and 0 <= y <= h - ch - 1
        cx, cy = draw_mosaic(rng, w, h)
        assert int(w * 0.2) <= cx <= int(w * 0.8) and int(h * 0.2) <= cy <= int(h * 0.8)
    assert {rand_int(rng, 3, 1) for _ in range(200)} == {1, 2, 3}
    assert (mix_code(0, 1, 1), mix_code(0, 1, 0), mix_code(0, 0, 1), mix_code(1, 0, 0)) == \
        (4, 2, 3, 1)


def test_crop_matrix_is_rotate_crop_image():
    # src/image.c: rotate_crop_image's source coordinates of a few output pixels, by hand
    ih, iw, size, s, rad, dx, dy, a = 40, 60, 32, 0.8, 0.3, 2.5, -1.0, 1.2
    m = crop_matrix(ih, iw, size, s, rad, dx, dy, a)
    for x, y in ((0, 0), (5, 17), (31, 31)):
        rx = math.cos(rad) * ((x - size / 2.) / s * a + dx / s * a) \
            - math.sin(rad) * ((y - size / 2.) / s + dy / s) + iw / 2.
        ry = math.sin(rad) * ((x - size / 2.) / s * a + dx / s * a) \
            + math.cos(rad) * ((y - size / 2.) / s + dy / s) + ih / 2.
        assert m @ np.array([x, y, 1.0]) == pytest.approx([rx, ry])


# ---------------------------------------------------------------- datasets
def _write(path: Path, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((12, 16, 3), value, np.uint8))


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    for split, n in (("train", 3), ("val", 1)):
        for name in ("cat", "dog"):
            for k in range(n):
                _write(tmp_path / split / name / f"{k}.png", 40 * k)
    (tmp_path / "train" / "emu").mkdir()                      # an empty class
    (tmp_path / "train" / "dog" / "broken.jpg").write_bytes(b"not an image")
    return tmp_path


def test_folder_dataset_errors_are_clear(folder: Path):
    with pytest.raises(DataError, match=r"class emu has no images"):
        load_folder(folder, "train")
    ds = load_folder(folder, "train", allow_empty=True)
    assert ds.names == ["cat", "dog", "emu"] and ds.counts() == [3, 4, 0]
    broken = ds.paths.index(str(folder / "train" / "dog" / "broken.jpg"))
    with pytest.raises(DataError, match=r"broken\.jpg: image does not decode"):
        ds[broken]
    report = check_classification(folder)
    text = report.format_text()
    assert report.fatal
    assert "class 'emu' has no train images" in text and "broken.jpg: error" in text
    assert "class 'emu' has no val images" in text        # a warning in val


def test_darknet_list_takes_the_class_from_the_path(tmp_path: Path):
    for p in ("imgs/cat_1.png", "imgs/dog_2.png", "imgs/catdog.png", "imgs/bird.png"):
        _write(tmp_path / p)
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    (tmp_path / "train.list").write_text("imgs/cat_1.png\nimgs/dog_2.png\n")
    (tmp_path / "bad.list").write_text("imgs/cat_1.png\nimgs/catdog.png\nimgs/bird.png\n")
    (tmp_path / "cls.data").write_text("classes=2\ntrain=train.list\nvalid=bad.list\n"
                                       "labels=labels.txt\ntop=2\n")
    ds = load_classification(tmp_path / "cls.data", "train")
    assert ds.labels == [0, 1] and ds.names == ["cat", "dog"]
    with pytest.raises(DataError, match=r"2 image paths name no class or several.*catdog\.png "
                                        r"contains several class names \(cat, dog\)"):
        load_classification(tmp_path / "cls.data", "val")
    assert labels_in_path("/x/n01440764/a.jpg", ["n01440764", "n02"]) == [0]
    report = check_classification(tmp_path / "cls.data")
    assert sum("name" in p.message for p in report.problems) == 2


def test_loader_is_a_function_of_seed_epoch_and_index(folder: Path):
    for bad in (folder / "train" / "dog" / "broken.jpg", folder / "train" / "emu"):
        bad.unlink() if bad.is_file() else bad.rmdir()
    ds = load_folder(folder, "train")
    aug = ClassAug(width=32, height=32, min_crop=16, max_crop=48, angle=7, aspect=0.75,
                   hue=0.1, saturation=1.5, exposure=1.5, mix=4, label_smooth_eps=0.1)
    a = classify_loader(ds, aug, batch_size=3, seed=5)
    b = classify_loader(ds, aug, batch_size=3, seed=5)
    a.batch_sampler.set_epoch(2)
    b.batch_sampler.set_epoch(2)
    for (xa, ya, pa), (xb, yb, pb) in zip(a, b):
        assert xa.shape == (3, 3, 32, 32) and ya.shape == (3, 2)
        assert (xa == xb).all() and (ya == yb).all() and pa == pb
        assert ya.sum(1).tolist() == pytest.approx([1.0] * 3)
