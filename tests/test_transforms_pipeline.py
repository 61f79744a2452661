"""The composed training pipeline: config from cfg keys, oracle checks of whole pipelines."""
from __future__ import annotations

import numpy as np
import pytest

from _transform_oracle import RULES, SceneDataset, check
from yolov4.darknet.cfg import parse_cfg_text
from yolov4.data.sample import Sample
from yolov4.data.transforms import AugmentConfig, TrainPipeline
from yolov4.errors import CfgError

CFG = """[net]
width=608
height=608
hue=.1
saturation = 1.5
exposure = 1.5
mosaic=1
blur=3
flip=0

[convolutional]
filters=18

[yolo]
jitter=.2

[yolo]
jitter=.3
resize=1.5
"""


def test_config_from_cfg_keys():
    cfg = AugmentConfig.from_cfg(parse_cfg_text(CFG), mixup_prob=0.25)
    assert (cfg.hue, cfg.saturation, cfg.exposure) == (0.1, 1.5, 1.5)
    assert cfg.mosaic and not cfg.flip and cfg.blur == 3 and not cfg.mixup
    assert (cfg.jitter, cfg.resize) == (0.3, 1.5)  # the last [yolo], as Darknet
    assert cfg.mixup_prob == 0.25
    d = AugmentConfig()  # Darknet defaults
    assert (d.hue, d.saturation, d.exposure, d.jitter, d.flip, d.mosaic) == (0, 1, 1, .2, 1, 0)
    with pytest.raises(CfgError, match=":5:"):
        AugmentConfig.from_cfg(parse_cfg_text(CFG.replace("1.5\nexposure", "lots\nexposure")))
    with pytest.raises(CfgError, match="unknown"):
        AugmentConfig.from_dict({"mosiac": 1})
    with pytest.raises(CfgError, match=r"my.cfg:5: \[net\] augmentation option saturation=-1"):
        AugmentConfig.from_cfg(parse_cfg_text(CFG.replace("1.5\nexposure", "-1\nexposure"),
                                              source="my.cfg"))
    with pytest.raises(CfgError, match="mosaic_prob=2"):
        AugmentConfig(mosaic_prob=2)


GEOMETRIC = dict(jitter=0.3, resize=1.25, flip=True, mosaic=True, mosaic_prob=0.7,
                 degrees=10, translate=0.1, scale=0.3, shear=3,
                 min_box_size=RULES.min_size, min_visible=RULES.min_visible)


def _dataset():
    # seven images, one colour each: duplicates in a mosaic share a colour, so no tightness check
    return SceneDataset([(c,) for c in range(7)], h=100, w=140, min_side=20, max_side=60)


@pytest.mark.parametrize("extra", [{}, {"cutmix": True, "cutmix_prob": 1.0},
                                   {"cutout": 2, "gridmask": 0.5, "hide_and_seek": 0.5}])
def test_geometric_pipeline_keeps_boxes_on_pixels(extra):
    pipe = TrainPipeline(_dataset(), AugmentConfig(**GEOMETRIC, **extra))
    rng = np.random.default_rng(0)
    for k in range(20):
        image, boxes, labels = pipe(k % 7, (96, 128), rng)
        assert image.shape == (96, 128, 3)
        check(image, boxes, labels, tight=False)


@pytest.mark.parametrize("extra", [{"mixup": True}, {"cutmix": True}, {}])
def test_full_pipeline_outputs_are_valid(extra):
    cfg = AugmentConfig(hue=0.1, saturation=1.5, exposure=1.5, blur=3, gaussian_noise=10,
                        **{**GEOMETRIC, "min_box_size": 2.0, "min_visible": 0.1}, **extra)
    pipe = TrainPipeline(_dataset(), cfg)
    rng = np.random.default_rng(1)
    for k in range(20):
        image, boxes, labels = pipe(k % 7, (64, 96), rng)
        assert image.shape == (64, 96, 3) and image.dtype == np.uint8
        assert boxes.dtype == np.float32 and labels.dtype == np.int64
        assert boxes.shape == (len(labels), 4) and np.isfinite(boxes).all()
        assert (boxes[:, 2:] - boxes[:, :2] >= 2.0).all()
        assert ((0 <= labels) & (labels < 7)).all()


def test_same_rng_same_result_and_crowd_dropped():
    ds = _dataset()
    s = ds.samples[0]
    ds.samples[0] = Sample(s.image, np.concatenate([s.boxes, s.boxes]),
                           np.array([0, 0]), s.path, iscrowd=np.array([False, True]))
    pipe = TrainPipeline(ds, AugmentConfig(jitter=0.0, flip=False))
    a = pipe(0, (100, 140), np.random.default_rng(5))
    b = pipe(0, (100, 140), np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(a[2]) == 1  # the crowd box is not trained on
