"""Engine-only switches: objectness prior, gradient clipping, thread choice, config precedence."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train_helpers import tiny_cfg  # noqa: E402

from yolov4.darknet.cfg import read_cfg  # noqa: E402
from yolov4.darknet.graph import Darknet  # noqa: E402
from yolov4.engine.config import apply_to_sections, parse_overrides, resolve_config  # noqa: E402
from yolov4.engine.trainer import choose_threads, init_objectness  # noqa: E402
from yolov4.errors import YoloError  # noqa: E402


def test_obj_prior_sets_only_objectness_bias(tmp_path):
    net = Darknet.from_cfg(tiny_cfg(tmp_path / "t.cfg"))
    init_objectness(net, 0.01)
    b = net.layers[-2].conv.bias.view(3, 7)          # 3 anchors x (x, y, w, h, obj, c0, c1)
    assert torch.allclose(b[:, 4], torch.full((3,), math.log(0.01 / 0.99)))
    assert torch.count_nonzero(b[:, :4]) == 0 and torch.count_nonzero(b[:, 5:]) == 0


def test_choose_threads():
    assert choose_threads(3) == 3
    assert choose_threads(0) in (1, torch.get_num_threads())


def test_config_precedence_and_derived_values(tmp_path, shared_darknet):
    sections = read_cfg(shared_darknet / "cfg" / "yolov4.cfg")
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("momentum: 0.8\nlearning_rate: 0.002\n")
    cfg, notes = resolve_config(sections, hyp_file=hyp,
                                overrides=parse_overrides(["learning_rate=0.003", "epochs=2"]),
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
