"""Starting points: partial Darknet files and whole files with another class count (real yolov4-tiny COCO weights)."""
from __future__ import annotations

import pytest
import torch

from yolov4.darknet.graph import Darknet
from yolov4.engine.starting import init_from_weights, save_partial
from yolov4.errors import WeightsError


@pytest.fixture(scope="module")
def tiny(shared_darknet):
    cfg = shared_darknet / "weights" / "yolov4-tiny.cfg"
    weights = shared_darknet / "weights" / "yolov4-tiny.weights"
    ref = Darknet.from_cfg(cfg)
    ref.load_weights(weights)
    return cfg, weights, ref


def test_new_class_count_reinitialises_heads(tiny):
    cfg, weights, ref = tiny
    torch.manual_seed(0)
    net = Darknet.from_cfg(cfg, classes=3)
    fresh_head = net.layers[29].conv.weight.detach().clone()
    start = init_from_weights(net, weights)
    lines = start.lines
    assert start.fresh == [29, 36]
    # yolov4-tiny: the convs feeding [yolo] are layers 29 and 36 (30 and 37 are the [yolo]s)
    assert "trained for 80 classes, the model has 3" in lines[0]
    assert "layers 29, 36" in lines[0]
    for i in (0, 28, 35):
        assert torch.equal(net.layers[i].conv.weight, ref.layers[i].conv.weight)
    assert torch.equal(net.layers[29].conv.weight, fresh_head)        # not loaded
    assert net.layers[29].conv.weight.shape[0] == 3 * (5 + 3)
    assert net.seen == 0


def test_partial_file_detected(tiny, tmp_path):
    cfg, weights, ref = tiny
    part = save_partial(ref, tmp_path / "yolov4-tiny.conv.28", upto=28)
    net = Darknet.from_cfg(cfg, classes=2)
    start = init_from_weights(net, part)
    lines = start.lines
    assert "partial" in lines[0] and "layers 0-27" in lines[0]
    assert start.fresh == [28, 29, 32, 35, 36]      # the layers with weights from 28 on
    assert torch.equal(net.layers[27].conv.weight, ref.layers[27].conv.weight)
    explicit = Darknet.from_cfg(cfg)
    assert "layers 0-10" in init_from_weights(explicit, weights, upto=11).lines[0]
    assert torch.equal(explicit.layers[10].conv.weight, ref.layers[10].conv.weight)


def test_wrong_file_says_why(tiny, tmp_path, shared_darknet):
    cfg, weights, _ = tiny
    net = Darknet.from_cfg(shared_darknet / "weights" / "yolov3-tiny.cfg")
    with pytest.raises(WeightsError, match="wrong cfg"):
        init_from_weights(net, weights)


def test_partial_cli_writes_a_byte_prefix_with_seen_zero(tiny, tmp_path, capsys):
    """``yolov4 partial`` = ``darknet partial``: the same header version with ``seen = 0``, then
    exactly the first bytes of the original's data (layers 0..N-1 in file order)."""
    import numpy as np

    from yolov4.cli import main
    cfg, weights, _ = tiny
    out = tmp_path / "yolov4-tiny.conv.29"
    assert main(["partial", str(cfg), str(weights), str(out), "29"]) == 0
    assert "--weights" in capsys.readouterr().out
    orig, part = weights.read_bytes(), out.read_bytes()
    major, minor = np.frombuffer(orig[:8], np.int32)
    head = 20 if (major * 10 + minor) >= 2 else 16  # 64-bit 'seen' from version 0.2 on
    assert part[:12] == orig[:12]
    assert int(np.frombuffer(part[12:head], np.uint64 if head == 20 else np.uint32)[0]) == 0
    body = part[head:]
    assert 0 < len(body) < len(orig) - head and body == orig[head:head + len(body)]
    assert main(["partial", str(cfg), str(weights), str(out), "99"]) == 2
    assert "between 1 and" in capsys.readouterr().err
