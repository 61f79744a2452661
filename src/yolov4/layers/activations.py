"""Activation functions by their Darknet names (``activation=`` in a cfg), as ``nn.Module``.

Formulas follow ``src/activations.c`` / ``src/activation_kernels.cu`` (AlexeyAB/darknet):
``leaky`` uses slope 0.1, ``selu`` uses Darknet's truncated constants, ``mish`` is
``x * tanh(softplus(x))``, ``hard_mish`` is ``x`` for x > 0, ``x^2/2 + x`` on (-2, 0], else 0,
and ``gelu`` is the tanh approximation with Darknet's constants. Every module keeps the shape.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CfgError


def _hard_mish(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.where(x > -2, 0.5 * x * x + x, torch.zeros_like(x)))


def _selu(x: Tensor) -> Tensor:  # Darknet: 1.0507 * (x >= 0 ? x : 1.6732 * (e^x - 1))
    return torch.where(x >= 0, 1.0507 * x, 1.0507 * 1.6732 * torch.expm1(x))


def _gelu(x: Tensor) -> Tensor:  # Darknet: 0.5x(1 + tanh(0.797885x + 0.035677x^3))
    return 0.5 * x * (1 + torch.tanh(0.797885 * x + 0.035677 * x * x * x))


def _elu(x: Tensor) -> Tensor:  # Darknet: x >= 0 ? x : e^x - 1
    return torch.where(x >= 0, x, torch.expm1(x))


_FUNCTIONS: Dict[str, Callable[[Tensor], Tensor]] = {
    "logistic": torch.sigmoid,
    "leaky": lambda x: F.leaky_relu(x, 0.1),
    "relu": F.relu,
    "relu6": lambda x: F.hardtanh(x, 0.0, 6.0),  # the GPU semantics (CPU Darknet returns 0)
    "tanh": torch.tanh,
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "swish": F.silu,
    "mish": F.mish,
    "hard_mish": _hard_mish,
}

#: Darknet activation names this package implements (``linear`` is the identity).
ACTIVATIONS = frozenset(_FUNCTIONS) | {"linear"}


class Activation(nn.Module):
    """A Darknet activation by name; shape-preserving, ``Tensor[*] -> Tensor[*]``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{name}'")
        self.name = name
        self._fn = _FUNCTIONS.get(name)

    def forward(self, x: Tensor) -> Tensor:
        if self._fn is None:
            return x
        if self.name == "leaky":  # the hot path of most cfgs, without the lambda
            return F.leaky_relu(x, 0.1)
        return self._fn(x)

    def extra_repr(self) -> str:
        return self.name


def make_activation(section, key: str = "activation", default: str = "linear") -> nn.Module:
    """Activation module named by ``section[key]``; ``nn.Identity`` for ``linear``.

    Raises:
        CfgError: naming the cfg file and line when the name is not a known activation.
    """
    name = section.get_str(key, default)
    if name not in ACTIVATIONS:
        raise CfgError(f"{section.where(key)} unknown activation '{name}' "
                       f"(known: {', '.join(sorted(ACTIVATIONS))})")
    if name == "linear":
        return nn.Identity()
    return Activation(name)
