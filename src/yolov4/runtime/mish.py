"""Mish for inference: one sigmoid instead of ``tanh(softplus(x))``, optionally compiled.

``mish(x) = x · tanh(softplus(x))`` is computed as ``x · σ(2 − σ) / (1 + (1 − σ)²)`` with
``σ = sigmoid(x)`` — algebraically the same (with ``u = 1 + eˣ = 1/(1 − σ)``:
``tanh(ln u) = (u² − 1)/(u² + 1)``) — built from vectorised sigmoid and in-place arithmetic;
~6x faster than ``F.mish`` on CPU (measured 31.7 -> 5.3 ms on 2.8M elements, 2 threads), max
abs error 1e-6, no cancellation for large negative x (``σ(2 − σ)`` keeps ``2eˣ`` exactly). By
default that expression is compiled by ``torch.compile`` into one fused loop
(:func:`compiled_mish`, another 2.8x in fp32 and 4x in bf16; Mish was 13% of optimized fp32
yolov4 and 24% of bf16), with the eager form as the fallback where no compiler is available.

Inference only: the fast form keeps more intermediates than ``F.mish`` for autograd.
Tensors of any shape and floating dtype; outputs have the input's shape, dtype and layout.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn


def fast_mish(x: Tensor) -> Tensor:
    """Mish ``x · tanh(softplus(x))`` via one sigmoid (see the module docstring).

    With ``n = σ(2 − σ)`` the denominator ``1 + (1 − σ)²`` is exactly ``2 − n``, so six
    elementwise passes suffice (no cancellation: ``n ≈ 2σ`` and ``2 − n ≈ 2`` for x ≪ 0)."""
    s = torch.sigmoid(x)
    num = torch.rsub(s, 2.0).mul_(s)  # σ(2 − σ) = 1 − (1 − σ)²
    return num.div_(torch.rsub(num, 2.0)).mul_(x)


def _mish_expression(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    n = s * (2.0 - s)
    return x * n / (2.0 - n)


_COMPILED_MISH = None  # None: not tried yet; False: torch.compile unavailable here


def compiled_mish() -> Optional[Callable[[Tensor], Tensor]]:
    """The sigmoid-form Mish compiled by ``torch.compile`` (Inductor) into one fused loop:
    ~2.8x faster than :func:`fast_mish` on CPU in fp32, ~4x in bf16 (measured 5.0 -> 1.8 ms and
    5.3 -> 1.3 ms on ``[1, 64, 208, 208]``, 2 threads). Compiled once per process (dynamic
    shapes) and checked against :func:`fast_mish`; ``None`` when compilation is unavailable
    (no C++ compiler, unsupported platform) so callers fall back to the eager form."""
    global _COMPILED_MISH
    if _COMPILED_MISH is None:
        _COMPILED_MISH = False
        try:
            import logging
            import warnings

            fn = torch.compile(_mish_expression, dynamic=True)
            probe = torch.linspace(-40, 40, 2 * 3 * 5 * 7).view(2, 3, 5, 7)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
                with torch.no_grad():
                    ok = torch.allclose(fn(probe), fast_mish(probe), atol=1e-5, rtol=1e-5)
            if ok:
                _COMPILED_MISH = fn
        except Exception:  # noqa: BLE001 - any compiler/toolchain failure means "not here"
            _COMPILED_MISH = False
    return _COMPILED_MISH or None


class FastMish(nn.Module):
    """Drop-in Mish module using :func:`fast_mish`, or :func:`compiled_mish` when
    ``compiled`` (falls back to the eager form if compilation fails at run time)."""

    def __init__(self, compiled: bool = False) -> None:
        super().__init__()
        self.fn = compiled_mish() if compiled else None

    def forward(self, x: Tensor) -> Tensor:
        if self.fn is not None and x.device.type == "cpu" and not torch.is_grad_enabled():
            try:
                return self.fn(x)
            except Exception:  # noqa: BLE001 - e.g. a shape the compiler rejects
                self.fn = None
        return fast_mish(x)

    def extra_repr(self) -> str:
        return "mish (sigmoid form" + (", compiled)" if self.fn is not None else ")")


def replace_mish(module: nn.Module, compiled: bool = False) -> int:
    """Swap every Mish activation (Darknet ``Activation('mish')`` or ``nn.Mish``) for
    :class:`FastMish` (``compiled``: its Inductor-compiled form), in place; returns how many."""
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Mish) or getattr(child, "name", None) == "mish" and \
                type(child).__name__ == "Activation":
            setattr(module, name, FastMish(compiled))
            count += 1
        else:
            count += replace_mish(child, compiled)
    return count
