"""Exponential moving averages of weights: Darknet's ``ema_alpha`` schedule and the common every-step EMA.

Darknet (``src/network.c: train_network_waitkey, ema_update, ema_apply``), after the update of
iteration ``it`` (``it`` counts updates, 1-based):

- nothing before ``it >= max_batches // 2``; the first time there, the EMA is initialised by
  copying the weights;
- while ``it < max_batches - 1000``: ``ema = alpha * ema + (1 - alpha) * w`` over conv weights,
  biases and BN scales (all *parameters*; never the BN rolling mean/var);
- at exactly ``it == max_batches - 1000`` the live weights are overwritten by the EMA and training
  continues normally for the last 1000 iterations (re-estimating BN statistics);
- evaluation uses the live weights; ``*_ema.weights`` holds the EMA parameters with the live
  rolling statistics.

The every-step EMA (``ema_mode: every_step``, as most PyTorch detectors) keeps a full copy of the
model updated after every iteration with ``d = alpha * (1 - exp(-updates / ramp))``; its
parameters are averaged and its buffers (BN statistics) copied, and it is the model that is
validated and exported.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Dict, Mapping, Optional

import torch
from torch import nn


class DarknetEMA:
    """Darknet's ``ema_alpha`` schedule over the model's parameters (see the module docstring)."""

    def __init__(self, model: nn.Module, alpha: float, max_batches: int) -> None:
        self.model = model
        self.alpha = float(alpha)
        self.max_batches = int(max_batches)
        self.shadow: Optional[Dict[str, torch.Tensor]] = None
        self.applied = False

    @property
    def start(self) -> int:
        return self.max_batches // 2

    @property
    def apply_point(self) -> int:
        return self.max_batches - 1000

    def _params(self) -> Dict[str, torch.Tensor]:
        return {n: p for n, p in self.model.named_parameters()}

    @torch.no_grad()
    def after_update(self, iteration: int) -> Optional[str]:
        """Call after the optimiser step of update number ``iteration`` (1-based).

        Returns ``"init"``, ``"update"``, ``"apply"`` or ``None`` (what happened), for logs.
        """
        if not self.alpha or iteration < self.start:
            return None
        event = "update"
        if self.shadow is None:
            self.shadow = {n: p.detach().clone() for n, p in self._params().items()}
            event = "init"
        if iteration == self.apply_point:
            for n, p in self._params().items():
                p.copy_(self.shadow[n])
            self.applied = True
            return "apply"
        if iteration > self.apply_point:
            return None if event == "update" else event
        a = self.alpha
        for n, p in self._params().items():
            self.shadow[n].mul_(a).add_(p.detach(), alpha=1.0 - a)
        return event

    def ema_state_dict(self) -> Dict[str, torch.Tensor]:
        """The model's state dict with EMA parameters and live buffers (for ``*_ema`` exports)."""
        state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if self.shadow is not None:
            for n, t in self.shadow.items():
                state[n] = t.clone()
        return state

    def state_dict(self) -> Dict[str, Any]:
        return {"mode": "darknet", "alpha": self.alpha, "max_batches": self.max_batches,
                "shadow": self.shadow, "applied": self.applied}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        shadow = state.get("shadow")
        self.shadow = None if shadow is None else {k: v.clone() for k, v in shadow.items()}
        self.applied = bool(state.get("applied", False))


class ModelEMA:
    """Every-step EMA of a full model copy (parameters averaged, buffers copied)."""

    def __init__(self, model: nn.Module, alpha: float = 0.9999, ramp: float = 2000.0) -> None:
        self.model = model
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.alpha = float(alpha)
        self.ramp = float(ramp)
        self.updates = 0

    def decay(self) -> float:
        """Current decay ``alpha * (1 - exp(-updates / ramp))`` (no ramp when ramp <= 0)."""
        if self.ramp <= 0:
            return self.alpha
        return self.alpha * (1.0 - math.exp(-self.updates / self.ramp))

    @torch.no_grad()
    def after_update(self, iteration: int) -> Optional[str]:
        """Update after every optimiser step; ``iteration`` is accepted for a common interface."""
        self.updates += 1
        d = self.decay()
        live = dict(self.model.named_parameters())
        for n, p in self.ema.named_parameters():
            p.mul_(d).add_(live[n].detach(), alpha=1.0 - d)
        live_buffers = dict(self.model.named_buffers())
        for n, b in self.ema.named_buffers():
            b.copy_(live_buffers[n])
        return "update"

    def ema_state_dict(self) -> Dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.ema.state_dict().items()}

    def state_dict(self) -> Dict[str, Any]:
        return {"mode": "every_step", "alpha": self.alpha, "ramp": self.ramp,
                "updates": self.updates, "ema": self.ema.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state.get("updates", 0))
        self.ema.load_state_dict(state["ema"])


def build_ema(model: nn.Module, hyp: Mapping[str, Any]) -> Optional[Any]:
    """``DarknetEMA`` / ``ModelEMA`` from ``ema_alpha`` (0 = off), ``ema_mode`` and ``max_batches``."""
    alpha = float(hyp.get("ema_alpha", 0) or 0)
    if alpha <= 0:
        return None
    mode = str(hyp.get("ema_mode", "darknet"))
    if mode == "every_step":
        return ModelEMA(model, alpha, float(hyp.get("ema_ramp", 2000)))
    return DarknetEMA(model, alpha, int(hyp.get("max_batches", 0)))
