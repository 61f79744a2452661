"""Training engine end to end on a tiny cfg and in-memory squares (CPU, a few seconds each).

Oracles: the trained model is re-read from the Darknet ``model.cfg``/``model.weights`` it wrote
and run through ``Detector`` against the known boxes; resume is checked against an
uninterrupted run; failures against their documented messages.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train_helpers import SquaresDataset, tiny_cfg  # noqa: E402

import yolov4  # noqa: E402
from yolov4.engine import task as task_mod  # noqa: E402
from yolov4.engine import trainer as trainer_mod  # noqa: E402
from yolov4.engine.checkpoint import load_checkpoint  # noqa: E402
from yolov4.errors import CheckpointError  # noqa: E402
from yolov4.ops.boxes import box_iou  # noqa: E402

QUIET = dict(verbose=False, plots=0, log=lambda s: None)


@pytest.fixture(autouse=True)
def one_thread():
    """2 shared cores: one intra-op thread is several times faster under load."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_overfit_one_batch_then_detects(tmp_path):
    cfg = tiny_cfg(tmp_path / "tiny.cfg", lr=0.005, iou_loss="ciou", iou_normalizer=0.07)
    ds = SquaresDataset(4)
    # the cfg's own values (SGD lr .005, constant): 40 updates to overfit four images, every
    # batch all four (sampling=epoch; Darknet's draws with replacement would leave some out)
    r = yolov4.train(data=(ds, ds), model=str(cfg), out=tmp_path / "run", max_batches=40,
                     eval_interval=0, bn_momentum=0.1, conf_thresh=0.25, recipe="darknet",
                     sampling="epoch", **QUIET)
    losses = [row["loss"] for row in r.losses]
    assert len(losses) == 40
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0]                 # falls by more than half
    assert sum(losses[-3:]) / 3 < 0.1 * sum(losses[1:4]) / 3      # and keeps falling after step 1
    # the exported Darknet files detect every square with the right class
    import cv2
    det = yolov4.Detector(str(r.cfg), str(r.weights), names=ds.names, conf=0.25)
    paths = []
    for s in ds.samples:
        p = tmp_path / s.path
        cv2.imwrite(str(p), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
        paths.append(str(p))
    for s, d in zip(ds.samples, det.predict(paths)):
        iou = box_iou(torch.from_numpy(s.boxes), d.boxes.float())
        for t in range(len(s.boxes)):
            hit = (iou[t] > 0.5) & (d.class_ids == int(s.labels[t]))
            assert hit.any(), (s.path, s.boxes[t], d.boxes, d.class_ids, d.scores)
    assert r.metrics["darknet.mAP50"] > 0.9


def _resumable_run(tmp_path: Path, name: str, **kw):
    cfg = tiny_cfg(tmp_path / "aug.cfg", batch=4, subdivisions=2, lr=0.002, flip=1, jitter=0.2,
                   random=1, dropblock=True)
    ds = SquaresDataset(8, seed=1)
    return yolov4.train(data=(ds, SquaresDataset(2, seed=2)), model=str(cfg),
                        out=tmp_path / name, max_batches=6, eval_interval=0, burn_in=2,
                        adversarial_lr=0.05, ema_alpha=0.9, ema_mode="every_step", seed=3,
                        **kw, **QUIET), ds


def test_resume_equals_straight(tmp_path):
    straight, _ = _resumable_run(tmp_path, "straight")
    stopped, ds = _resumable_run(tmp_path, "stopped", stop_after=3)
    assert stopped.iterations == 3
    ck = load_checkpoint(stopped.last)
    assert ck["iteration"] == 3 and ck["position"]["epoch_iter"] == 1   # mid-epoch (2 it/epoch)
    resumed = yolov4.train(data=(ds, SquaresDataset(2, seed=2)), resume=stopped.last,
                           stop_after=0, **QUIET)
    assert resumed.iterations == 6
    a = [row["loss"] for row in straight.losses]
    b = [row["loss"] for row in resumed.losses]
    assert len(a) == len(b) == 6
    assert b == pytest.approx(a, rel=1e-4)
    # random training shapes were in play (Darknet random=1 from a 64 input: 128 first)
    sizes = [row["size"] for row in resumed.losses]
    assert sizes == [row["size"] for row in straight.losses] and "64x64" not in sizes[:1]
    assert [row["lr"] for row in resumed.losses] == [row["lr"] for row in straight.losses]
    sa = torch.load(straight.last, weights_only=True)["model"]
    sb = torch.load(resumed.last, weights_only=True)["model"]
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=1e-5)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real = task_mod.YoloLoss

    class NanOnThird(real):
        calls = 0

        def __call__(self, outputs, targets, input_hw):
            total, parts = super().__call__(outputs, targets, input_hw)
            NanOnThird.calls += 1
            if NanOnThird.calls == 3:
                total = total * float("nan")
            return total, parts

    monkeypatch.setattr(task_mod, "YoloLoss", NanOnThird)
    cfg = tiny_cfg(tmp_path / "tiny.cfg")
    ds = SquaresDataset(4)
    with pytest.raises(trainer_mod.TrainingError) as err:    # nan_patience=1: the first stops
        yolov4.train(data=(ds, None), model=str(cfg), out=tmp_path / "run", max_batches=10,
                     nan_patience=1, **QUIET)
    msg = str(err.value)
    assert "loss is nan at iteration 3" in msg
    assert "img_000.png" in msg and "img_003.png" in msg            # the last batch's images
    assert "last good checkpoint" in msg
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iteration"] == 2


def test_out_of_memory_advice_names_subdivisions(tmp_path, monkeypatch):
    def boom(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(yolov4.Darknet, "forward", boom)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", batch=4, subdivisions=2)
    ds = SquaresDataset(4)
    with pytest.raises(trainer_mod.TrainingError, match=r"raise --subdivisions \(e.g. 4"):
        yolov4.train(data=(ds, None), model=str(cfg), out=tmp_path / "run", max_batches=2, **QUIET)


def test_resume_from_broken_checkpoint_says_why(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="last.pt: not a readable PyTorch checkpoint"):
        yolov4.train(resume=bad, **QUIET)


def test_cmbn_statistics_span_the_minibatches_of_one_batch(tmp_path):
    """batch_normalize=2: after one iteration of 2 mini-batches the BN statistics are those of
    the two mini-batches together (Darknet fast_v_cbn_kernel), restarted every iteration."""
    from yolov4.layers.cmbn import CmBatchNorm2d
    cfg = tiny_cfg(tmp_path / "cmbn.cfg", batch=4, subdivisions=2, bn=2, lr=0.0)
    ds = SquaresDataset(4)
    seen = []
    orig = CmBatchNorm2d.forward

    def spy(self, x):
        if self is first[0] and self.training:
            seen.append(x.detach().clone())
        return orig(self, x)

    first = [None]
    real_build = trainer_mod.build_optimizer

    def grab(net, hyp):
        first[0] = next(m for m in net.modules() if isinstance(m, CmBatchNorm2d))
        return real_build(net, hyp)

    import unittest.mock as mock
    with mock.patch.object(CmBatchNorm2d, "forward", spy), \
            mock.patch.object(trainer_mod, "build_optimizer", grab):
        yolov4.train(data=(ds, None), model=str(cfg), out=tmp_path / "run", max_batches=2,
                     burn_in=0, **QUIET)
    bn = first[0]
    assert len(seen) == 4 and bn.minibatch_index == 2               # reset by begin_batch
    x = torch.cat(seen[2:])                                          # the 2nd iteration's batch
    n = x.numel() // x.shape[1]
    mean = x.mean((0, 2, 3))
    # E[x^2] per mini-batch is sum(x^2)/(N_mb - 1), averaged over the 2 mini-batches
    e2 = torch.stack([(s * s).sum((0, 2, 3)) / (s.numel() // s.shape[1] - 1) for s in seen[2:]]).mean(0)
    torch.testing.assert_close(bn.m_avg, mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.v_avg - bn.m_avg ** 2, (e2 - mean ** 2).clamp(min=0), rtol=1e-3, atol=1e-5)
    # and it approximates the concatenated batch's variance (N-1 vs N/2-1 normalisation aside)
    torch.testing.assert_close(bn.v_avg - bn.m_avg ** 2, x.var((0, 2, 3)), rtol=0.1, atol=1e-3)
    assert n == 2 * (seen[2].numel() // seen[2].shape[1])


def test_dropblock_ramp_follows_the_iteration(tmp_path):
    from yolov4.layers.dropout import DropBlock
    cfg = tiny_cfg(tmp_path / "db.cfg", dropblock=True)
    ds = SquaresDataset(4)
    r = yolov4.train(data=(ds, None), model=str(cfg), out=tmp_path / "run", max_batches=3, **QUIET)
    net = yolov4.Darknet.from_cfg(r.cfg)
    # the trainer told the layer the iteration before the 3rd update (2 updates done)
    ck = load_checkpoint(r.last)
    assert ck["iteration"] == 3
    blocks = [m for m in net.modules() if isinstance(m, DropBlock)]
    assert blocks
    db = blocks[0]
    db.iteration, db.max_batches = 2, 3
    cur_p, block = db.current(16, 16)
    # Darknet: m = min(1, 2 / (0.85*3)) = 0.784...; cur_p = 0.3*m; block = int(3*m) = 2
    assert cur_p == pytest.approx(0.3 * 2 / (0.85 * 3))
    assert block == 2


class NanLossFrom:
    """A YoloLoss whose value is NaN on the calls listed (1-based), for monkeypatching."""

    def __init__(self, calls):
        self.calls, self.n = set(calls), 0
        real = task_mod.YoloLoss
        outer = self

        class Loss(real):
            def __call__(self, outputs, targets, input_hw):
                total, parts = super().__call__(outputs, targets, input_hw)
                outer.n += 1
                if outer.n in outer.calls:
                    total = total * float("nan")
                return total, parts

        self.cls = Loss


def _params(path):
    model = load_checkpoint(path)["model"]
    return {k: v for k, v in model.items() if "running" not in k and "num_batches" not in k}


def test_isolated_nan_loss_skips_that_update_and_trains_on(tmp_path, monkeypatch):
    nan = NanLossFrom({2})
    monkeypatch.setattr(task_mod, "YoloLoss", nan.cls)
    cfg = tiny_cfg(tmp_path / "tiny.cfg")
    lines = []
    res = yolov4.train(data=(SquaresDataset(4), None), model=str(cfg), out=tmp_path / "run",
                       max_batches=4, verbose=False, plots=0, log=lines.append)
    assert res.iterations == 4 and res.skipped_updates == 1
    assert any("iteration 2: loss is nan; update skipped (1 in a row, 1 skipped so far" in ln
               for ln in lines), lines
    assert any("1 of 4 updates were skipped" in ln for ln in lines)
    rows = {int(r["iteration"]): r for r in res.losses}
    assert math.isnan(float(rows[2]["loss"])) and math.isnan(float(rows[2]["darknet_loss"]))
    assert all(math.isfinite(float(rows[i]["loss"])) for i in (1, 3, 4))


def test_persistent_nan_loss_stops_after_nan_patience(tmp_path, monkeypatch):
    nan = NanLossFrom(range(3, 100))
    monkeypatch.setattr(task_mod, "YoloLoss", nan.cls)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", batch=2, subdivisions=1)
    ds = SquaresDataset(4)     # 2 iterations per epoch: last.pt is written at iteration 2
    with pytest.raises(trainer_mod.TrainingError) as err:
        yolov4.train(data=(ds, None), model=str(cfg), out=tmp_path / "run", max_batches=20,
                     nan_patience=4, **QUIET)
    msg = str(err.value)
    assert "loss is nan at iteration 6 (4 updates in a row); training stopped" in msg
    assert "last good checkpoint" in msg
    # the end of epoch 2 (iteration 4) was saved: skipped updates leave the weights as they were
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ck["iteration"] == 4 and ck["position"]["skipped"] == 2
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_nonfinite_gradient_skips_the_update_weights_unchanged(tmp_path, monkeypatch):
    """Default recipe: a NaN gradient value skips the whole update: the parameters after
    iteration 2 equal those after iteration 1 of the same run, and the skip is counted."""
    poisoned = {"n": 0}
    orig_backward = torch.Tensor.backward

    def backward(self, *args, **kwargs):
        orig_backward(self, *args, **kwargs)
        poisoned["n"] += 1
        if poisoned["n"] == 2:      # the second update's backward
            next(p for p in poisoned["net"].parameters() if p.grad is not None).grad.view(-1)[0] \
                = float("inf")

    real_loss = task_mod.YoloLoss

    class Capture(real_loss):
        def __init__(self, net, *a, **k):
            super().__init__(net, *a, **k)
            poisoned["net"] = net

    monkeypatch.setattr(task_mod, "YoloLoss", Capture)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", batch=2, subdivisions=1)
    common = dict(data=(SquaresDataset(6), None), model=str(cfg), ema_alpha=0, **QUIET)
    one = yolov4.train(out=tmp_path / "one", max_batches=2, stop_after=1, **common)
    monkeypatch.setattr(torch.Tensor, "backward", backward)
    two = yolov4.train(out=tmp_path / "two", max_batches=2, **common)
    assert two.skipped_updates == 1
    a, b = _params(one.last), _params(two.last)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_nonfinite_gradients_are_zeroed_like_darknet(tmp_path, monkeypatch):
    """recipe=darknet, a finite loss with a NaN gradient value: Darknet zeroes that update and
    trains on; the trainer does the same (the NaN never reaches the weights) and logs it."""
    poisoned = {"n": 0}
    orig_backward = torch.Tensor.backward

    def backward(self, *args, **kwargs):
        orig_backward(self, *args, **kwargs)
        if poisoned["n"] == 0:  # the first backward: poison one gradient value
            poisoned["n"] = 1
            for p in poisoned["net"].parameters():
                if p.grad is not None:
                    p.grad.view(-1)[0] = float("nan")
                    break

    real_loss = task_mod.YoloLoss

    class Capture(real_loss):
        def __init__(self, net, *a, **k):
            super().__init__(net, *a, **k)
            poisoned["net"] = net

    monkeypatch.setattr(task_mod, "YoloLoss", Capture)
    monkeypatch.setattr(torch.Tensor, "backward", backward)
    lines = []
    cfg = tiny_cfg(tmp_path / "tiny.cfg")
    res = yolov4.train(data=(SquaresDataset(4), None), model=str(cfg), out=tmp_path / "run",
                       max_batches=3, verbose=False, plots=0, log=lines.append, recipe="darknet")
    assert any("1 gradient values are not finite; they were set to 0 as Darknet does" in ln
               for ln in lines), lines
    assert res.skipped_updates == 0
    state = load_checkpoint(res.last)["model"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_recipe_darknet_update_equals_darknet_rule(tmp_path, monkeypatch):
    """recipe=darknet through the whole trainer: every update is Darknet's rule written in numpy
    (update_convolutional_layer: U += -decay*B*W on conv weights, W += lr/B*U, U *= momentum,
    with U accumulating -B*grad), the head biases start at 0 and the lr is the cfg's."""
    import numpy as np
    steps = []
    real_build = trainer_mod.build_optimizer

    def build(model, hyp):
        opt = real_build(model, hyp)
        orig = opt.step

        def step(*a, **k):
            names = {id(p): n for n, p in model.named_parameters()}
            before = {names[id(p)]: (p.detach().clone(), p.grad.detach().clone(), g["lr"])
                      for g in opt.param_groups for p in g["params"] if p.grad is not None}
            orig(*a, **k)
            after = {n: p.detach().clone() for n, p in model.named_parameters()}
            steps.append((before, after))
        opt.step = step
        return opt

    monkeypatch.setattr(trainer_mod, "build_optimizer", build)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", batch=2, subdivisions=1, lr=0.01)
    yolov4.train(data=(SquaresDataset(4), None), model=str(cfg), out=tmp_path / "run",
                 max_batches=3, recipe="darknet", **QUIET)
    B, momentum, decay = 2, 0.9, 0.0005
    head = f"layers.{7}.conv.bias"           # the conv feeding [yolo]: Darknet starts it at 0
    assert torch.count_nonzero(steps[0][0][head][0]) == 0
    U = {}
    for before, after in steps:
        for name, (w, g, lr) in before.items():
            assert lr == pytest.approx(0.01)                  # policy=constant, burn_in=0
            w, g = w.double().numpy(), g.double().numpy()
            u = U.get(name, np.zeros_like(w)) - B * g
            if name.endswith("conv.weight"):
                u = u - decay * B * w
            expect = w + 0.01 / B * u
            U[name] = momentum * u
            np.testing.assert_allclose(after[name].double().numpy(), expect, rtol=1e-5,
                                       atol=1e-7, err_msg=name)
    assert len(steps) == 3
