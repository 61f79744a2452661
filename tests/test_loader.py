"""Loader: collate format, seed reproducibility across worker counts, random training shapes,
the letterbox validation loader, the RAM cache and the preview grid."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from _transform_oracle import SceneDataset
from yolov4.data.loader import RandomShapes, RamCache, collate, train_loader
from yolov4.data.preview import save_grid
from yolov4.data.transforms import AugmentConfig

CFG = AugmentConfig(jitter=0.3, hue=0.1, saturation=1.5, exposure=1.5, mosaic=True, mixup=True)


def _ds(n=10):
    return SceneDataset([(k % 7, (k + 3) % 7) for k in range(n)], h=60, w=80, min_side=8,
                        max_side=25)


def test_collate_variable_box_counts():
    a = (np.full((4, 6, 3), 255, np.uint8), np.array([[0, 0, 2, 2], [1, 1, 5, 3]], np.float32),
         np.array([3, 1]), "a.jpg")
    b = (np.zeros((4, 6, 3), np.uint8), np.zeros((0, 4), np.float32), np.zeros(0, np.int64), "b")
    c = (np.zeros((4, 6, 3), np.uint8), np.array([[2, 1, 3, 4]], np.float32), np.array([0]), "c")
    images, targets, paths = collate([a, b, c])
    assert images.shape == (3, 3, 4, 6) and images.dtype == torch.float32
    assert images[0].min() == 1.0 and images[1].max() == 0.0
    assert targets.tolist() == [[0, 3, 0, 0, 2, 2], [0, 1, 1, 1, 5, 3], [2, 0, 2, 1, 3, 4]]
    assert paths == ["a.jpg", "b", "c"]
    with pytest.raises(ValueError, match="share a size"):
        collate([a, (np.zeros((5, 6, 3), np.uint8),) + b[1:]])


def _run(loader):
    return [(x.clone(), t.clone(), list(p)) for x, t, p in loader]


def _same(r1, r2):
    return len(r1) == len(r2) and all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
                                      and a[2] == b[2] for a, b in zip(r1, r2))


def test_seed_reproducible_for_any_worker_count():
    shapes = RandomShapes(rule="uniform", min_size=64, max_size=128, every=2, seed=1)
    kw = dict(batch_size=3, shapes=shapes, seed=7)
    r0 = _run(train_loader(_ds(), CFG, **kw))
    assert _same(r0, _run(train_loader(_ds(), CFG, **kw)))
    assert _same(r0, _run(train_loader(_ds(), CFG, workers=2, **kw)))
    assert not _same(r0, _run(train_loader(_ds(), CFG, **{**kw, "seed": 8})))
    for images, targets, _ in r0:
        b, _, h, w = images.shape
        assert h % 32 == 0 and w % 32 == 0
        if len(targets):
            assert targets[:, 0].max() < b
            assert (targets[:, 2:4] >= 0).all() and (targets[:, 4] <= w).all()
            assert (targets[:, 5] <= h).all() and (targets[:, 4:] > targets[:, 2:4]).all()


def test_epochs_differ_and_counters_continue():
    loader = train_loader(_ds(), CFG, batch_size=5, shapes=64, seed=0)
    e0, e1 = _run(loader), _run(loader)
    assert not _same(e0, e1)


@pytest.mark.parametrize("every", [1, 3, 10])
def test_random_shapes_change_every_n_batches(every):
    s = RandomShapes(rule="uniform", min_size=320, max_size=608, every=every, seed=3)
    sizes = [s.size(b) for b in range(every * 40)]
    for b, (h, w) in enumerate(sizes):
        assert h == w and h % 32 == 0 and 320 <= h <= 608
        if b % every:
            assert (h, w) == sizes[b - 1]  # constant within a block
    blocks = [sizes[k * every] for k in range(40)]
    assert len(set(blocks)) >= 5  # and new sizes across blocks
    assert sum(a != b for a, b in zip(blocks, blocks[1:])) >= 20


def test_random_shapes_darknet_rule():
    # init 608, random=1 -> c = 1.4: dim = round(r*608/32 + 1)*32 with r in [1/1.4, 1.4]:
    # r >= 1 gives 640..896 (608*1.4/32 + 1 = 27.6 -> 28*32 = 896), r < 1 gives
    # round(608/1.4/32 + 1)*32 = round(14.57)*32 = 480 .. 608 (capped at init).
    s = RandomShapes(608, rule="darknet", every=10, seed=0, total_batches=2000)
    sizes = {s.size(b) for b in range(0, 1900, 10)}
    assert s.size(0) == (896, 896) and s.size(1950) == (896, 896)  # forced maximum
    dims = {h for h, w in sizes}
    assert dims <= set(range(480, 897, 32)) and min(dims) == 480 and max(dims) == 896
    # non-square init keeps the aspect: same r for both sides
    h, w = RandomShapes((416, 608), rule="darknet", seed=0).size(0)
    assert (h, w) == (608, 896)  # round(1.4*416/32+1)*32 = round(19.2)*32, round(27.6)*32


def test_random_shapes_from_cfg():
    from yolov4.darknet.cfg import parse_cfg_text
    text = "[net]\nwidth=416\nheight=416\n\n[yolo]\nrandom=0\n\n[yolo]\nrandom={}\n"
    fixed = RandomShapes.from_cfg(parse_cfg_text(text.format(0)))
    assert {fixed.size(b) for b in range(0, 200, 10)} == {(416, 416)}
    dn = RandomShapes.from_cfg(parse_cfg_text(text.format(1)), seed=2)
    assert dn.size(0) == (608, 608)  # round(1.4*416/32 + 1)*32 = round(19.2)*32
    assert {h for h, _ in (dn.size(b) for b in range(0, 2000, 10))} <= set(range(320, 609, 32))


def test_ram_cache_serves_the_same_samples():
    ds = _ds(4)
    cache = RamCache(ds)
    assert len(cache) == 4 and cache.nbytes == 4 * 60 * 80 * 3 and cache.names == ds.names
    assert np.array_equal(cache[2].image, ds[2].image)
    r1 = _run(train_loader(ds, CFG, batch_size=2, shapes=64, cache=True))
    r2 = _run(train_loader(ds, CFG, batch_size=2, shapes=64))
    assert _same(r1, r2)


@pytest.mark.parametrize("augment", [False, True])
def test_save_grid_writes_png(tmp_path, augment):
    out = save_grid(_ds(5), tmp_path / "g" / "grid.png", augment=augment, n=4, size=64)
    image = cv2.imread(str(out))
    assert image.shape == (2 + 2 * 66, 2 + 2 * 66, 3)


def test_end_to_end_on_a_synthetic_yolo_dataset(tmp_path):
    """The real reader (YOLO layout from yolov4.data.synth) through the training loader and preview."""
    from yolov4.data.formats import load_dataset
    from yolov4.data.synth import generate

    data = generate(tmp_path / "synth", images=6, classes=3, size=64, seed=0, val_fraction=0.34)
    train = load_dataset(data, "train")
    batches = list(train_loader(train, CFG, batch_size=2, shapes=RandomShapes(
        rule="uniform", min_size=64, max_size=96, every=1, seed=0), seed=0))
    assert sum(b[0].shape[0] for b in batches) == len(train)
    for images, targets, paths in batches:
        assert images.dtype == torch.float32 and 0 <= images.min() and images.max() <= 1
        assert targets.shape[1] == 6 and all(p in train.paths for p in paths)
        if len(targets):
            assert ((targets[:, 1] >= 0) & (targets[:, 1] < 3)).all()
    assert cv2.imread(str(save_grid(train, tmp_path / "show.png", augment=True, n=4,
                                    size=64))) is not None


def _indices(sampler, epochs):
    return [[item[0] for batch in sampler for item in batch] for _ in range(epochs)]


def test_sampling_epoch_visits_each_image_once_replacement_draws_like_darknet():
    """``epoch``: a permutation per epoch. ``replacement`` (Darknet's get_random_paths): uniform
    independent draws, so repeats within an epoch and unseen images (expected unseen share after
    n draws from n images: (1 - 1/n)^n ~ e^-1); both reproducible from (seed, epoch)."""
    from yolov4.data.loader import ShapeBatchSampler
    from yolov4.errors import DataError
    n, batch = 600, 16
    shapes = RandomShapes(64, rule="fixed")
    perm = _indices(ShapeBatchSampler(n, batch, shapes, seed=3, drop_last=True), 2)
    assert all(len(set(e)) == len(e) == n // batch * batch for e in perm) and perm[0] != perm[1]
    draws = _indices(ShapeBatchSampler(n, batch, shapes, seed=3, drop_last=True,
                                       sampling="replacement"), 40)
    flat = np.concatenate(draws)
    assert flat.min() >= 0 and flat.max() < n and len(draws[0]) == n // batch * batch
    unseen = [1 - len(set(e)) / n for e in draws]          # 592 draws per epoch from 600
    expected = (1 - 1 / n) ** len(draws[0])
    assert abs(np.mean(unseen) - expected) < 0.01, (np.mean(unseen), expected)
    counts = np.bincount(flat, minlength=n)                  # uniform: chi-square, 599 dof
    chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
    assert 599 - 5 * np.sqrt(2 * 599) < chi2 < 599 + 5 * np.sqrt(2 * 599)
    again = ShapeBatchSampler(n, batch, shapes, seed=3, drop_last=True, sampling="replacement")
    again.set_epoch(7)
    assert _indices(again, 1)[0] == draws[7]                 # resume: same images
    with pytest.raises(DataError, match="sampling must be one of"):
        ShapeBatchSampler(n, batch, shapes, sampling="random")
