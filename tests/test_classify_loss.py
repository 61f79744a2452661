"""The classifier loss against a plain-Python transcription of Darknet's classifier path.

Oracle: ``src/data.c: fill_truth_smooth`` (the truth), ``src/blas.c: softmax`` (max-subtracted,
with temperature) and ``softmax_x_ent_cpu`` (``delta = t - p``, ``error = t ? -log p : 0``),
``backward_softmax_layer`` (the delta passes unchanged to the softmax input), ``src/cost_layer.c``
(``type=sse``: ``scale*(t - p)`` added, error ``(t - p)^2``) and the update's ``1/batch``. The
gradient on the softmax input must be ``-delta / batch``.
"""
from __future__ import annotations

import math

import pytest
import torch

from yolov4.darknet.cfg import make_section
from yolov4.darknet.graph import Darknet
from yolov4.errors import YoloError
from yolov4.loss.classify import ClassifierLoss, smooth_truth


# ---------------------------------------------------------------- plain-Python Darknet
def fill_truth_smooth(label, k, eps):
    return [(1 - eps) if i == label else eps / (k - 1) for i in range(k)]


def softmax(values, temp):
    largest = max(values)
    e = [math.exp(v / temp - largest / temp) for v in values]
    s = sum(e)
    return [x / s for x in e]


def darknet_grad(logits, labels, eps, temp, batch, cost_scale=None):
    """Gradient on the softmax input (negative delta over batch) and the printed cost."""
    grads, cost_soft, cost_l2 = [], 0.0, 0.0
    for z, label in zip(logits, labels):
        t = fill_truth_smooth(label, len(z), eps)
        p = softmax(z, temp)
        delta = [ti - pi for ti, pi in zip(t, p)]
        cost_soft += sum(-math.log(pi) for ti, pi in zip(t, p) if ti)
        if cost_scale is not None:
            delta = [d + cost_scale * (ti - pi) for d, ti, pi in zip(delta, t, p)]
            cost_l2 += sum((ti - pi) ** 2 for ti, pi in zip(t, p))
        grads.append([-d / batch for d in delta])
    cost = cost_soft if cost_scale is None else (cost_soft + cost_l2) / 2
    return grads, cost


def _classifier(classes: int, temperature: float = 1.0, cost_scale=None) -> Darknet:
    sections = [make_section("net", width=32, height=32, channels=3),
                make_section("convolutional", filters=4, size=3, stride=2, pad=1,
                             activation="leaky", batch_normalize=1),
                make_section("avgpool"),
                make_section("convolutional", filters=classes, size=1, stride=1, pad=1,
                             activation="linear"),
                make_section("softmax", groups=1, temperature=temperature)]
    if cost_scale is not None:
        sections.append(make_section("cost", type="sse", scale=cost_scale))
    return Darknet.from_cfg(sections)


@pytest.mark.parametrize("eps,temp,cost", [(0.0, 1.0, None), (0.1, 1.0, None), (0.1, 2.0, None),
                                           (0.2, 1.0, 0.5)])
def test_gradient_equals_darknet_transcription(eps, temp, cost):
    torch.manual_seed(0)
    k, batch, labels = 5, 6, [0, 3, 4]
    net = _classifier(k, temp, cost).train()
    logits = {}
    net.layers[2].register_forward_hook(lambda m, i, o: logits.setdefault("z", o))
    x = torch.rand(len(labels), 3, 32, 32)
    out = net(x)
    logits["z"].retain_grad()
    truth = torch.stack([smooth_truth(c, k, eps) for c in labels])
    loss = ClassifierLoss(net)
    total, parts = loss(out, truth, (32, 32))
    (total / batch).backward()                     # the trainer divides by the cfg batch
    z = logits["z"].detach().reshape(len(labels), k).double().tolist()
    want, cost_value = darknet_grad(z, labels, eps, temp, batch, cost)
    got = logits["z"].grad.reshape(len(labels), k).double()
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), atol=1e-7)
    assert parts["darknet_loss"] == pytest.approx(cost_value, rel=1e-5)
    # the value is the soft-target cross-entropy, summed over the images
    ce = sum(-sum(t * math.log(p) for t, p in zip(fill_truth_smooth(c, k, eps), softmax(zz, temp)))
             for zz, c in zip(z, labels))
    assert float(total.detach()) == pytest.approx(ce, rel=1e-5)
    assert parts["cls"] == pytest.approx(ce, rel=1e-5)


def test_smooth_truth_is_fill_truth_smooth():
    assert smooth_truth(2, 4, 0.3).tolist() == pytest.approx([0.1, 0.1, 0.7, 0.1])
    assert smooth_truth(0, 3, 0.0).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(YoloError, match="outside"):
        smooth_truth(3, 3)


def test_eval_mode_is_plain_softmax_and_sums_to_one():
    net = _classifier(7).eval()
    p = net(torch.rand(2, 3, 32, 32))[0].reshape(2, 7)
    assert torch.allclose(p.sum(1), torch.ones(2))


def test_a_cfg_without_softmax_is_refused():
    sections = [make_section("net", width=32, height=32, channels=3),
                make_section("convolutional", filters=4, size=3, stride=2, pad=1,
                             activation="leaky"),
                make_section("avgpool")]
    with pytest.raises(YoloError, match=r"must end with \[softmax\]"):
        ClassifierLoss(Darknet.from_cfg(sections))


def test_truth_of_the_wrong_width_is_explained():
    net = _classifier(5).train()
    out = net(torch.rand(1, 3, 32, 32))
    with pytest.raises(YoloError, match="class count"):
        ClassifierLoss(net)(out, torch.zeros(1, 4), (32, 32))
