"""The GPU-oriented switches of the training step on CPU: bf16 autocast, channels-last,
SyncBatchNorm conversion (a few seconds)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train_helpers import SquaresDataset, tiny_cfg  # noqa: E402

import yolov4  # noqa: E402
from yolov4.engine import distributed as dist  # noqa: E402
from yolov4.engine.checkpoint import load_checkpoint  # noqa: E402
from yolov4.engine.sync_bn import convert_sync_batchnorm, revert_sync_batchnorm  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = dict(verbose=False, plots=0, tensorboard=0, log=lambda s: None)


def test_bf16_autocast_and_channels_last_train_and_save_plain_weights(tmp_path):
    cfg = tiny_cfg(tmp_path / "tiny.cfg", batch=4, subdivisions=2)
    ds = SquaresDataset(8)
    kw = dict(data=(ds, None), model=str(cfg), max_batches=3, eval_interval=0, seed=1, **QUIET)
    ref = yolov4.train(out=tmp_path / "fp32", **kw)
    fast = yolov4.train(out=tmp_path / "bf16", amp_dtype="bfloat16", channels_last=1, **kw)
    a = [r["loss"] for r in ref.losses]
    b = [r["loss"] for r in fast.losses]
    assert all(math.isfinite(v) for v in b)
    assert b[0] != a[0]                                # autocast was on ...
    assert b[0] == pytest.approx(a[0], rel=0.05)       # ... and bf16 gives the loss to ~1 %
    state = load_checkpoint(fast.last)["model"]
    assert all(v.dtype != torch.bfloat16 for v in state.values())   # fp32 master weights
    net = yolov4.Darknet.from_cfg(fast.cfg)
    net.load_weights(fast.weights)                     # the Darknet export is unaffected


def test_sync_batchnorm_conversion_keeps_tensors_and_keys_and_reverts(tmp_path):
    net = yolov4.Darknet.from_cfg(tiny_cfg(tmp_path / "tiny.cfg"))
    keys = list(net.state_dict())
    ref = yolov4.Darknet.from_cfg(tiny_cfg(tmp_path / "tiny.cfg")).eval()
    ref.load_state_dict(net.state_dict())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert convert_sync_batchnorm(net, torch.device("cpu")) == len(bns) == 4
    assert not any(type(m) is torch.nn.BatchNorm2d for m in net.modules())
    x = torch.rand(2, 3, 64, 64)
    net.eval()
    torch.testing.assert_close(net(x)[0], ref(x)[0])      # alone / in eval: plain BN
    assert list(net.state_dict()) == keys               # same names: checkpoints load either way
    assert revert_sync_batchnorm(net) == 4
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_cmbn_layers_are_not_converted(tmp_path):
    net = yolov4.Darknet.from_cfg(tiny_cfg(tmp_path / "cmbn.cfg", bn=2))
    assert convert_sync_batchnorm(net, torch.device("cpu")) == 0


def test_rank_seeds_differ_per_rank_and_repeat_per_position():
    assert dist.iteration_seed(0, 1, 5) == dist.iteration_seed(0, 1, 5)
    assert len({dist.iteration_seed(0, r, i) for r in range(4) for i in range(4)}) == 16
