"""The classifiers' default recipe (hyp.yaml ``recipe_classifier``) against ``recipe=darknet``.

Oracles: ``csdarknet53-omega.cfg``'s ``[net]`` transcribed by hand (AlexeyAB/darknet, cfg/;
``parse_net_options`` for the keys it leaves out), scaled as the zoo scales the crops with the
width; and the classifier recipe written out by hand (hyp.yaml's block, values and rules).

Before the classifier block existed, ``recipe=default`` applied the *detector's* block to a
classifier and kept omega's ImageNet freebies (CutMix + Mosaic, crops 0.5-1.75x the width) and
Darknet's BN momentum .01: on the built-in 64 px crops that held the loss at ln 5 for the whole
of a short run. ``test_default_recipe_for_classifiers_by_hand`` fails on that code.
"""
from __future__ import annotations

import pytest

from yolov4.data.transforms.classify import MIX_CUTMIX_MOSAIC, MIX_NONE, ClassAug
from yolov4.engine.classify_api import classifier_sections
from yolov4.engine.config import apply_to_sections, is_classifier, recipe_defaults, resolve_config
from yolov4.errors import YoloError
from yolov4.models import build_sections

#: csdarknet53-omega.cfg [net] (training keys), at its own width 256.
OMEGA_256 = dict(batch=128, subdivisions=4, label_smooth_eps=0.1, width=256, height=256,
                 min_crop=128, max_crop=448, mosaic=1, cutmix=1, burn_in=1000,
                 learning_rate=0.1, policy="poly", power=4.0, max_batches=1200000,
                 momentum=0.9, decay=0.0005, angle=7.0, hue=0.1, saturation=0.75,
                 exposure=0.75, aspect=0.75, adam=0, bn_momentum=None)


def _tiny(size: int = 64):
    return classifier_sections("cspdarknet53-tiny", 5, width=size, height=size,
                               width_multiple=0.5)


def _pick(cfg, keys):
    return {k: cfg[k] for k in keys}


def test_is_classifier():
    assert is_classifier(_tiny())
    assert not is_classifier(build_sections("yolov4-tiny", classes=3))


def test_darknet_recipe_is_omega():
    """recipe=darknet trains with omega's [net] exactly (no epochs: the cfg's max_batches)."""
    cfg, notes = resolve_config(_tiny(256), overrides={"recipe": "darknet"})
    assert _pick(cfg, OMEGA_256) == OMEGA_256
    assert notes[0].startswith("recipe=darknet")
    aug = ClassAug.from_net(apply_to_sections(_tiny(256), cfg)[0])
    assert (aug.min_crop, aug.max_crop, aug.mix, aug.label_smooth_eps) == (
        128, 448, MIX_CUTMIX_MOSAIC, 0.1)


def test_default_recipe_for_classifiers_by_hand():
    """recipe=default on a 64 px classifier, 10 epochs of 4800 images at batch 32."""
    cfg, notes = resolve_config(_tiny(64), dataset_len=4800,
                                overrides={"epochs": 10, "batch": 32, "subdivisions": 1})
    expected = dict(adam=1, learning_rate=0.005, policy="sgdr", power=1.0,
                    learning_rate_min=0.00001, bn_momentum=0.1, mosaic=0, cutmix=0,
                    min_crop=56, max_crop=80,           # round(.875·64), round(1.25·64)
                    max_batches=1500, burn_in=150,      # 10 x 4800 // 32; capped at 10 %
                    angle=0.0, aspect=1.0,              # no rotation, no aspect jitter
                    # omega's values the recipe leaves alone
                    label_smooth_eps=0.1, decay=0.0005, hue=0.1)
    assert _pick(cfg, expected) == expected
    assert "min_crop=56, max_crop=80 = crop_scale 0.875,1.25 x width 64" in notes[0]
    # what the loader reads from the written [net]
    aug = ClassAug.from_net(apply_to_sections(_tiny(64), cfg)[0])
    assert (aug.min_crop, aug.max_crop, aug.mix, aug.label_smooth_eps) == (56, 80, MIX_NONE, 0.1)
    # the detector's block is not what classifiers get
    assert recipe_defaults(classifier=True) != recipe_defaults()


def test_classifier_recipe_precedence():
    """A key you set beats the recipe (crop_scale fills only the crop key you did not set);
    crop_scale follows the width; detectors keep their own block."""
    cfg, _ = resolve_config(_tiny(64), overrides={"max_batches": 100, "min_crop": 40,
                                                   "mosaic": 1, "learning_rate": 0.001})
    assert _pick(cfg, ["min_crop", "max_crop", "mosaic", "cutmix", "learning_rate"]) == dict(
        min_crop=40, max_crop=80, mosaic=1, cutmix=0, learning_rate=0.001)
    cfg, _ = resolve_config(_tiny(64), overrides={"max_batches": 100,
                                                   "width": 96, "height": 96})
    assert (cfg["min_crop"], cfg["max_crop"]) == (84, 120)          # .875·96, 1.25·96
    cfg, _ = resolve_config(_tiny(64), overrides={"max_batches": 100, "crop_scale": [0.5, 2]})
    assert (cfg["min_crop"], cfg["max_crop"]) == (32, 128)
    det, _ = resolve_config(build_sections("yolov4-tiny", classes=3), overrides={"max_batches": 9})
    assert (det["learning_rate"], det["crop_scale"], det["bn_momentum"]) == (0.002, None, None)


@pytest.mark.parametrize("bad", [[1.25, 0.875], [0, 1], [1.0]])
def test_crop_scale_errors(bad):
    with pytest.raises(YoloError, match="crop_scale must be two numbers"):
        resolve_config(_tiny(64), overrides={"max_batches": 10, "crop_scale": bad})
