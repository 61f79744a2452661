"""Training-time layers: CmBN statistics/backward, DropBlock ramp and pattern, dropout."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from yolov4.layers.cmbn import CmBatchNorm2d
from yolov4.layers.dropout import DropBlock, Dropout


def _cmbn_reference(batches, eps=1e-5):
    """DARKNET_SEMANTICS §4.5 in float64 numpy: (outputs, rolling_mean, rolling_var)."""
    m_avg = v_avg = None
    rmean, rvar = np.zeros(batches[0].shape[1]), np.ones(batches[0].shape[1])
    outs = []
    for k, x in enumerate(batches, start=1):
        x = x.astype(np.float64)
        n = x.shape[0] * x.shape[2] * x.shape[3]
        mean = x.mean((0, 2, 3))
        e2 = np.maximum((x ** 2).sum((0, 2, 3)) / (n - 1), mean ** 2)
        a = 1.0 / k
        m_avg = mean if m_avg is None else a * mean + (1 - a) * m_avg
        v_avg = e2 if v_avg is None else a * e2 + (1 - a) * v_avg
        var = np.maximum(0, v_avg - m_avg ** 2)
        outs.append((x - m_avg[None, :, None, None]) / np.sqrt(var + eps)[None, :, None, None])
        rmean = 0.01 * m_avg + 0.99 * rmean
        rvar = 0.01 * var + 0.99 * rvar
    return outs, rmean, rvar


def test_cmbn_accumulates_across_minibatches_and_resets():
    torch.manual_seed(0)
    bn = CmBatchNorm2d(3).train()
    batches = [torch.randn(2, 3, 4, 4) * (k + 1) + k for k in range(3)]
    outs = [bn(x).detach().numpy() for x in batches]
    ref, rmean, rvar = _cmbn_reference([x.numpy() for x in batches])
    for o, r in zip(outs, ref):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean.numpy(), rmean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), rvar, rtol=1e-5, atol=1e-6)
    bn.begin_batch()  # a new batch: statistics start again from this mini-batch alone
    again = bn(batches[2]).detach().numpy()
    np.testing.assert_allclose(again, _cmbn_reference([batches[2].numpy()])[0][0], rtol=1e-4,
                               atol=1e-4)


def test_cmbn_backward_is_bn_backward_on_saved_stats():
    """dx = γ·invstd/N·(N·dy − Σdy − x̂·Σ(dy·x̂)) with the accumulated (mean, invstd)."""
    torch.manual_seed(1)
    bn = CmBatchNorm2d(2).train()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.7, 1.3]))
    bn(torch.randn(3, 2, 3, 3))  # first mini-batch, no gradient needed
    x = torch.randn(3, 2, 3, 3, requires_grad=True)
    y = bn(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    mean = bn.m_avg.view(1, -1, 1, 1)
    invstd = torch.rsqrt((bn.v_avg - bn.m_avg ** 2).clamp(min=0) + bn.eps).view(1, -1, 1, 1)
    xhat = (x.detach() - mean) * invstd
    n = 3 * 3 * 3
    sdy = dy.sum((0, 2, 3), keepdim=True)
    sdyx = (dy * xhat).sum((0, 2, 3), keepdim=True)
    ref = bn.weight.view(1, -1, 1, 1) * invstd / n * (n * dy - sdy - xhat * sdyx)
    assert torch.allclose(x.grad, ref.detach(), atol=1e-5)
    assert torch.allclose(bn.weight.grad, sdyx.view(-1), atol=1e-5)
    assert torch.allclose(bn.bias.grad, sdy.view(-1), atol=1e-5)


def test_cmbn_eval_uses_rolling_stats():
    bn = CmBatchNorm2d(2).eval()
    with torch.no_grad():
        bn.running_mean.fill_(1.0)
        bn.running_var.fill_(4.0)
    x = torch.full((1, 2, 1, 1), 3.0)
    assert torch.allclose(bn(x), torch.full_like(x, 2.0 / (4.0 + 1e-5) ** 0.5))


def test_dropblock_ramp_block_size_and_probability():
    db = DropBlock(0.1, size_abs=7, max_batches=1000)
    db.iteration = 0
    assert db.current(20, 20) == (0.0, 1)
    db.iteration = 425  # m = 425/850 = 0.5: p 0.05, block int(3.5) = 3
    p, block = db.current(20, 20)
    assert block == 3 and abs(p - 0.05) < 1e-12
    db.iteration = 5000  # m capped at 1
    assert db.current(20, 20) == (0.1, 7)
    assert db.current(5, 9) == (0.1, 5)  # clamped to min(W, H)
    rel = DropBlock(0.1, size_rel=0.5, max_batches=1000)
    rel.iteration = 850
    assert rel.current(8, 12)[1] == 4  # min(int(0.5*12), int(0.5*8))


def test_dropblock_at_most_one_block_per_channel_and_rescale():
    torch.manual_seed(0)
    db = DropBlock(0.9, size_abs=3, max_batches=10).train()
    db.iteration = 100
    x = torch.ones(4, 16, 9, 9)
    out = db(x)
    for b in range(4):
        zeros = out[b] == 0
        per_channel = zeros.flatten(1).sum(1)
        assert set(per_channel.tolist()) <= {0, 9}  # nothing or one 3x3 block
        for c in range(16):
            if per_channel[c]:
                ys, xs = torch.nonzero(zeros[c], as_tuple=True)
                assert ys.max() - ys.min() == 2 and xs.max() - xs.min() == 2
        dropped = int(zeros.sum())
        kept = out[b][~zeros]
        assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - dropped / (16 * 81))))
    assert (out == 0).any()
    assert torch.equal(db.eval()(x), x)


def test_dropout_train_and_eval():
    torch.manual_seed(0)
    d = Dropout(0.25)
    x = torch.ones(1000)
    y = d.train()(x)
    assert set(torch.unique(y).tolist()) <= {0.0, float(torch.tensor(1 / 0.75))}
    assert 0.2 < float((y == 0).float().mean()) < 0.3
    assert torch.equal(d.eval()(x), x)
