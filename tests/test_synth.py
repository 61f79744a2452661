"""The built-in synthetic dataset: determinism, tight visible boxes, colour carries no class
information, YOLO layout readable by load_dataset, and the CLI."""
from __future__ import annotations

import numpy as np

from yolov4.cli import main
from yolov4.data.formats import load_dataset
from yolov4.data.synth import MIN_VISIBLE, SHAPES, generate, render_scene


def scene(k, size=128, classes=5, clutter=1.0):
    return render_scene(np.random.default_rng([7, k]), size, classes, return_owner=True,
                        clutter=clutter)


def test_boxes_are_tight_around_visible_pixels():
    n_objects = 0
    for k in range(12):
        image, boxes, labels, owner = scene(k, clutter=k % 3)  # clean, default, heavy clutter
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert boxes.dtype == np.float32 and labels.dtype == np.int64 and len(boxes) == len(labels)
        assert set(np.unique(owner)) <= set(range(-1, len(boxes)))
        for j, box in enumerate(boxes):
            ys, xs = np.nonzero(owner == j)  # plain bounding box of the object's pixels
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert ((boxes[:, 2:] - boxes[:, :2]) >= 4).all() and (boxes >= 0).all()
        assert (boxes <= 128).all() and (labels < 5).all()
        n_objects += len(boxes)
    assert n_objects >= 20


def test_colour_does_not_identify_the_class():
    # Nearest-class-mean on the objects' mean RGB: with colours random per object it stays
    # near chance (1/4); it would be ~1.0 if colour were tied to the class.
    colours, classes = [], []
    for k in range(80):
        image, boxes, labels, owner = scene(100 + k, size=96, classes=4)
        for j, c in enumerate(labels):
            colours.append(image[owner == j].mean(0))
            classes.append(c)
    colours, classes = np.array(colours), np.array(classes)
    half = len(classes) // 2
    means = np.stack([colours[:half][classes[:half] == c].mean(0) for c in range(4)])
    pred = np.linalg.norm(colours[half:, None] - means[None], axis=2).argmin(1)
    accuracy = (pred == classes[half:]).mean()
    assert len(classes) > 150 and accuracy < 0.45
    assert len(set(classes.tolist())) == 4


def test_generate_is_deterministic_and_loadable(tmp_path):
    a = generate(tmp_path / "a", images=10, classes=3, size=96, seed=3, val_fraction=0.3)
    b = generate(tmp_path / "b", images=10, classes=3, size=96, seed=3, val_fraction=0.3)
    c = generate(tmp_path / "c", images=4, classes=3, size=96, seed=4, val_fraction=0.25)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*")
                   if p.name != "data.yaml")
    assert len(files) == 20
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert ((tmp_path / "a" / "images/train/000000.jpg").read_bytes()
            != (tmp_path / "c" / "images/train/000000.jpg").read_bytes())
    train, val = load_dataset(a), load_dataset(a, "val")
    assert (len(train), len(val)) == (7, 3) and train.names == list(SHAPES[:3])
    # the written labels are the rendered boxes (6 decimals of 96 px)
    _, boxes, labels = render_scene(np.random.default_rng([3, 0, 96, 3]), 96, 3)
    s = train[0]
    assert s.image.shape == (96, 96, 3)
    np.testing.assert_allclose(s.boxes, boxes, atol=1e-3)
    assert s.labels.tolist() == labels.tolist()
    assert 0 < MIN_VISIBLE < 1


def test_cli_synth(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path / "s"), "--images", "3", "--classes", "2",
                 "--size", "64", "--seed", "1", "--clutter", "0.5"]) == 0
    assert "data.yaml" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "s")]) == 0


def test_cli_show_writes_a_grid(tmp_path):
    import cv2

    generate(tmp_path / "s", images=4, classes=2, size=64, seed=2, val_fraction=0.25)
    out = tmp_path / "grid.png"
    assert main(["data", "show", str(tmp_path / "s"), "--out", str(out), "--n", "3",
                 "--size", "64"]) == 0
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] >= 64
