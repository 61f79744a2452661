"""Self-adversarial training (SAT, ``adversarial_lr``): alter the images to hide their objects, then train on them.

Darknet (``src/network_kernels.cu: train_network_datum_gpu``, DARKNET_SEMANTICS §4.7), for each
mini-batch pass, with probability 1/2 once ``cur_iteration > burn_in``:

1. ``lr_adv = adversarial_lr * cur_iteration / max_batches`` (a linear ramp);
2. forward/backward with **no truths**: BN uses its rolling statistics and is a fixed affine map,
   no weight gradient is kept, and the ``[yolo]`` layers emit the adversarial delta (push
   objectness, confident classes and boxes of every cell towards "nothing here");
3. ``x <- clamp(x + lr_adv * delta_input, 0, 1)`` where ``delta_input`` is Darknet's delta (the
   *negative* gradient) at the input, i.e. one gradient-descent step on the adversarial loss;
4. the altered images are then trained on normally with the real labels.

Darknet only has it on GPU; here it runs on any device. The per-cell delta rule belongs to the
loss (``adversarial_loss(outputs, input_hw)`` returns a scalar whose negative gradient with
respect to the raw outputs is that delta); this module does the rest.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Callable, Iterator, List, Sequence, Tuple

import torch
from torch import Tensor, nn

AdversarialLoss = Callable[[Sequence[Tensor], Tuple[int, int]], Tensor]


@contextmanager
def frozen_batchnorm(model: nn.Module) -> Iterator[None]:
    """BN layers (incl. CmBN) use rolling statistics inside the block; other modes unchanged."""
    bns: List[nn.Module] = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    modes = [m.training for m in bns]
    try:
        for m in bns:
            m.eval()
        yield
    finally:
        for m, mode in zip(bns, modes):
            m.train(mode)


def adversarial_lr_at(adversarial_lr: float, iteration: int, max_batches: int) -> float:
    """``adversarial_lr * iteration / max_batches`` (Darknet's ramp; ``iteration`` = updates done)."""
    if max_batches <= 0:
        return float(adversarial_lr)
    return float(adversarial_lr) * iteration / float(max_batches)


def should_attack(adversarial_lr: float, iteration: int, burn_in: int, rng: random.Random) -> bool:
    """Darknet's gate: SAT on, past burn-in, and a fair coin (drawn only when the rest holds)."""
    if not adversarial_lr or iteration <= burn_in:
        return False
    return rng.random() < 0.5


def adversarial_images(
    model: nn.Module,
    images: Tensor,
    adversarial_loss: AdversarialLoss,
    lr_adv: float,
) -> Tensor:
    """One SAT step: ``clamp(images - lr_adv * d adversarial_loss / d images, 0, 1)``.

    Args:
        model: the network in train mode (its ``[yolo]`` layers return raw outputs).
        images: ``Tensor[B, 3, H, W]`` in [0, 1].
        adversarial_loss: ``(raw_outputs, (H, W)) -> Tensor[]`` summed over the mini-batch.
        lr_adv: the step size (``adversarial_lr_at``).

    Returns:
        The altered images, ``Tensor[B, 3, H, W]`` in [0, 1], detached. No parameter gradient is
        accumulated (only the input's gradient is computed).
    """
    x = images.detach().clone().requires_grad_(True)
    with frozen_batchnorm(model):
        outputs = model(x)
        loss = adversarial_loss(outputs, (int(images.shape[-2]), int(images.shape[-1])))
        (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
    if grad is None:
        return images.detach()
    return (images.detach() - lr_adv * grad).clamp_(0.0, 1.0)
