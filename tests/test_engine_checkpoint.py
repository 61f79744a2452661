"""Checkpoints: atomic round trip with RNG states; loads that fail say why."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from yolov4.engine.checkpoint import (atomic_save, capture_rng, load_checkpoint, load_model_state,
                                      make_checkpoint, restore_rng)
from yolov4.errors import CheckpointError


def _model(c: int = 2) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, c, 1), nn.BatchNorm2d(c))


def test_round_trip_and_rng(tmp_path):
    m = _model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(torch.rand(2, 3, 4, 4)).sum().backward()
    opt.step()
    random.seed(1); np.random.seed(2); torch.manual_seed(3)
    ckpt = make_checkpoint(model=m, optimizer=opt, iteration=7, config={"batch": 4, "steps": [1, 2]},
                           cfg_text="[net]\nbatch=4\n", loader_state={"epoch": 1, "seed": 5})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    path = atomic_save(ckpt, tmp_path / "last.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]          # no temp file left
    random.seed(9); np.random.seed(9); torch.manual_seed(9)
    back = load_checkpoint(path)
    restore_rng(back["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    m2 = _model()
    load_model_state(m2, back["model"], path)
    assert torch.equal(m2[0].weight, m[0].weight)
    opt2 = torch.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(back["optimizer"])
    assert back["iteration"] == 7 and back["config"]["steps"] == [1, 2]
    assert back["cfg_text"].startswith("[net]")


def test_atomic_save_keeps_old_file_on_failure(tmp_path):
    path = atomic_save({"format": "x"}, tmp_path / "last.pt")
    before = path.read_bytes()

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_save({"bad": Boom()}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.pt"]


def test_bad_checkpoints_say_why(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_checkpoint(tmp_path / "empty.pt")
    good = atomic_save(make_checkpoint(model=_model(), iteration=1, config={}), tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut.pt: not a readable PyTorch checkpoint \(\d+ bytes; truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "x.weights").write_bytes(np.zeros(10, np.int32).tobytes())
    with pytest.raises(CheckpointError, match="pass it as --weights"):
        load_checkpoint(tmp_path / "x.weights")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a yolov4 training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    ck = load_checkpoint(good)
    with pytest.raises(CheckpointError, match=r"shape mismatch: 0.weight \(2, 3, 1, 1\) vs model \(5, 3, 1, 1\)"):
        load_model_state(_model(5), ck["model"], good)
