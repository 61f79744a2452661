"""Engine-only switches: objectness prior, gradient clipping, thread choice, config precedence."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train_helpers import tiny_cfg  # noqa: E402

from yolov4.darknet.cfg import read_cfg  # noqa: E402
from yolov4.darknet.graph import Darknet  # noqa: E402
from yolov4.engine.config import apply_to_sections, parse_overrides, resolve_config  # noqa: E402
from yolov4.engine.recipe import head_priors, momentum_at  # noqa: E402
from yolov4.engine.trainer import choose_threads  # noqa: E402
from yolov4.errors import YoloError  # noqa: E402


def test_obj_prior_sets_only_objectness_bias(tmp_path):
    net = Darknet.from_cfg(tiny_cfg(tmp_path / "t.cfg"))
    assert head_priors(net, 0.01) == [len(net.layers) - 2]
    b = net.layers[-2].conv.bias.view(3, 7)          # 3 anchors x (x, y, w, h, obj, c0, c1)
    # logit(0.01) = ln(0.01 / 0.99) = -4.59512
    assert torch.allclose(b[:, 4], torch.full((3,), -4.59512), atol=1e-5)
    assert torch.count_nonzero(b[:, :4]) == 0 and torch.count_nonzero(b[:, 5:]) == 0


def test_class_prior_and_only_fresh_heads(tmp_path):
    net = Darknet.from_cfg(tiny_cfg(tmp_path / "t.cfg"))
    head = len(net.layers) - 2
    assert head_priors(net, 0.01, 0.2, fresh=[]) == []          # all loaded: untouched
    assert torch.count_nonzero(net.layers[head].conv.bias) == 0
    head_priors(net, 0.0, 0.2, fresh=[head])
    b = net.layers[head].conv.bias.view(3, 7)
    assert torch.allclose(b[:, 5:], torch.full((3, 2), -1.386294), atol=1e-5)  # ln(.2/.8)
    assert torch.count_nonzero(b[:, :5]) == 0
    head_priors(net, 0.0, "auto", fresh=[head])                  # 1/classes = 1/2: logit 0
    assert torch.count_nonzero(net.layers[head].conv.bias) == 0


def test_momentum_warmup_by_hand():
    cfg = {"burn_in": 10, "momentum": 0.937, "warmup_momentum": 0.8}
    assert momentum_at(cfg, 5) == pytest.approx(0.8685)     # half-way: .8 + .5 * (.937 - .8)
    assert momentum_at(cfg, 10) == pytest.approx(0.937)
    assert momentum_at(cfg, 12) == pytest.approx(0.937)
    assert momentum_at({"momentum": 0.9}, 3) == 0.9


def test_choose_threads():
    assert choose_threads(3) == 3
    assert choose_threads(0) in (1, torch.get_num_threads())


def test_config_precedence_and_derived_values(tmp_path, shared_darknet):
    sections = read_cfg(shared_darknet / "cfg" / "yolov4.cfg")
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("momentum: 0.8\nlearning_rate: 0.002\n")
    cfg, notes = resolve_config(sections, hyp_file=hyp,
                                overrides=parse_overrides(["learning_rate=0.003", "epochs=2",
                                                           "recipe=darknet"]),
                                dataset_len=130)
    assert cfg["decay"] == 0.0005                # from the cfg ([net] decay=.0005)
    assert cfg["momentum"] == 0.8                # --hyp beats the cfg's .949
    assert cfg["learning_rate"] == 0.003         # key=value beats --hyp
    assert cfg["max_batches"] == 2 * (130 // 64)  # epochs x (images // batch 64)
    assert cfg["steps"] == [3, 3] and cfg["burn_in"] == 0
    assert any("max_batches=4" in n for n in notes)
    out = apply_to_sections(sections, dict(cfg, iou_loss="giou", cmbn=1))
    assert out[0].options["learning_rate"] == "0.003"
    assert {s.options["iou_loss"] for s in out if s.type == "yolo"} == {"giou"}
    assert all(s.options.get("batch_normalize") in (None, "2") for s in out if s.type == "convolutional")
    # per-head values the user did not set stay per head
    assert [s.options["scale_x_y"] for s in out if s.type == "yolo"] == ["1.2", "1.1", "1.05"]
    with pytest.raises(YoloError, match="did you mean momentum"):
        parse_overrides(["momentun=0.9"])
    with pytest.raises(YoloError, match="not divisible by subdivisions"):
        resolve_config(sections, overrides={"batch": 10, "subdivisions": 4, "max_batches": 5})
