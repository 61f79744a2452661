"""TrainConfig: typed view of hyp.yaml's keys, Darknet defaults, checks, dict-style access."""
from __future__ import annotations

import dataclasses

import pytest

from yolov4.engine.config import default_hyp, recipe_defaults, resolve_config
from yolov4.engine.train_config import TrainConfig, hyp_keys
from yolov4.errors import YoloError
from yolov4.models import build_sections


def test_fields_are_exactly_hyp_yaml_keys():
    assert set(hyp_keys()) == set(default_hyp())
    assert set(recipe_defaults()) <= set(hyp_keys())


def test_defaults_come_from_hyp_yaml_then_darknet():
    cfg = TrainConfig.from_mapping({})
    hyp = default_hyp()
    for key, value in hyp.items():
        if value is not None:
            assert cfg[key] == value, key
    # null in hyp.yaml: Darknet's parse_net_options defaults (src/parser.c)
    assert (cfg.batch, cfg.subdivisions, cfg.learning_rate, cfg.momentum, cfg.decay) == \
        (1, 1, 0.001, 0.9, 0.0001)
    assert (cfg.policy, cfg.burn_in, cfg.power, cfg.learning_rate_min, cfg.sgdr_mult) == \
        ("constant", 0, 4.0, 0.00001, 2)
    assert (cfg.B1, cfg.B2, cfg.eps, cfg.adam) == (0.9, 0.999, 0.000001, 0)
    assert cfg.mosaic is None and cfg.iou_loss is None      # the cfg's own values


def test_types_checks_and_mapping():
    cfg = TrainConfig.from_mapping({"batch": "8", "learning_rate": 1, "steps": 5,
                                    "max_batches": 10.0})
    assert cfg.batch == 8 and isinstance(cfg.batch, int)
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    assert cfg.steps == [5] and cfg.max_batches == 10
    assert dict(cfg)["batch"] == 8 and cfg.get("nope", 3) == 3 and "seed" in cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.batch = 2  # type: ignore[misc]
    assert cfg.replace(batch=16).batch == 16 and cfg.batch == 8
    with pytest.raises(YoloError, match="batch=2.5 must be an integer"):
        TrainConfig.from_mapping({"batch": 2.5})
    with pytest.raises(YoloError, match="learning_rate='fast' must be a number"):
        TrainConfig.from_mapping({"learning_rate": "fast"})
    with pytest.raises(YoloError, match="policy='cosine': choose one of"):
        TrainConfig.from_mapping({"policy": "cosine"})
    with pytest.raises(YoloError, match="unknown hyperparameter"):
        TrainConfig.from_mapping({"learning_rat": 0.1})


def test_resolve_config_returns_train_config():
    cfg, _ = resolve_config(build_sections("yolov4-tiny", classes=3),
                            overrides={"max_batches": 100, "batch": 4})
    assert isinstance(cfg, TrainConfig)
    assert (cfg.max_batches, cfg.batch, cfg["batch"]) == (100, 4, 4)
    assert TrainConfig.from_mapping(cfg.to_dict()) == cfg     # what a checkpoint stores


def test_sampling_follows_the_recipe():
    """recipe=darknet draws images with replacement as Darknet's get_random_paths; the default
    recipes (detector and classifier) visit each image once per epoch; a user's value wins."""
    tiny = build_sections("yolov4-tiny", classes=3)
    assert resolve_config(tiny, overrides={"recipe": "darknet"})[0].sampling == "replacement"
    assert resolve_config(tiny)[0].sampling == "epoch"
    assert resolve_config(tiny, overrides={"sampling": "replacement"})[0].sampling == "replacement"
    assert resolve_config(build_sections("cspdarknet53-tiny", classes=5))[0].sampling == "epoch"
