"""Darknet's learning-rate policies (``src/network.c: get_current_rate``) as one small class.

Every policy is a pure function of ``batch_num``, the number of weight updates already
made *including the current one* (Darknet's ``get_current_batch() = seen / batch``, which is
already ``k`` on the ``k``-th update). Burn-in comes first for every policy:
``lr * (k / burn_in) ** power`` while ``k < burn_in``.

| policy   | rate for k >= burn_in                                                   |
| -------- | ----------------------------------------------------------------------- |
| constant | ``lr``                                                                  |
| step     | ``lr * scale ** (k // step)``                                           |
| steps    | ``lr * prod(scales[i] for steps[i] <= k)``                              |
| exp      | ``lr * gamma ** k``                                                     |
| poly     | ``lr * (1 - k / max_batches) ** power``                                 |
| sigmoid  | ``lr / (1 + exp(gamma * (k - step)))``                                  |
| random   | ``lr * U(0, 1) ** power``                                               |
| sgdr     | ``lr_min + 0.5 (lr - lr_min)(1 + cos(pi (k - start) / cycle))``; the    |
|          | cycle (``sgdr_cycle``, default max_batches) is multiplied by            |
|          | ``sgdr_mult`` (default 2) each time ``start + cycle < k``               |
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Mapping, Optional

from ..errors import YoloError

POLICIES = ("constant", "step", "steps", "exp", "poly", "sigmoid", "random", "sgdr")

# Darknet writes pi as 3.14159265 in the sgdr branch; kept for bit-level agreement.
_DARKNET_PI = 3.14159265


@dataclass
class LRPolicy:
    """One Darknet lr policy with its [net] parameters (defaults are Darknet's).

    ``rate(k)`` is the lr of the ``k``-th update (``k >= 1``; ``k = 0`` gives the burn-in start).
    """

    learning_rate: float = 0.001
    policy: str = "constant"
    burn_in: int = 0
    power: float = 4.0
    max_batches: int = 0
    step: int = 1
    scale: float = 1.0
    steps: List[int] = field(default_factory=list)
    scales: List[float] = field(default_factory=list)
    gamma: float = 1.0
    learning_rate_min: float = 0.00001
    sgdr_cycle: Optional[int] = None  # None -> max_batches, as parse_net_options
    sgdr_mult: int = 2
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise YoloError(f"unknown lr policy '{self.policy}' (choose one of {', '.join(POLICIES)})")
        if self.policy == "steps":
            if not self.steps or not self.scales:
                raise YoloError("lr policy 'steps' needs both 'steps' and 'scales'")
            if len(self.steps) != len(self.scales):
                raise YoloError(
                    f"lr policy 'steps': {len(self.steps)} steps but {len(self.scales)} scales"
                )
        if self.policy == "step" and self.step <= 0:
            raise YoloError(f"lr policy 'step' needs step > 0, got {self.step}")
        if self.policy == "poly" and self.max_batches <= 0:
            raise YoloError("lr policy 'poly' needs max_batches > 0")
        if self.policy == "sgdr" and (self.sgdr_cycle or self.max_batches) <= 0:
            raise YoloError("lr policy 'sgdr' needs sgdr_cycle or max_batches > 0")
        self._rng.seed(self.seed)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "LRPolicy":
        """Build from a mapping with Darknet [net] key names; unknown keys are ignored."""
        names = {f.name for f in fields(cls) if not f.name.startswith("_")}
        kwargs: Dict[str, Any] = {}
        for key in names:
            if key in cfg and cfg[key] is not None:
                kwargs[key] = cfg[key]
        for key in ("steps", "scales"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = [float(v) for v in str(kwargs[key]).split(",") if v.strip()]
        if "steps" in kwargs:
            kwargs["steps"] = [int(float(v)) for v in kwargs["steps"]]
        if "scales" in kwargs:
            kwargs["scales"] = [float(v) for v in kwargs["scales"]]
        for key in ("burn_in", "max_batches", "step", "sgdr_mult", "seed"):
            if key in kwargs:
                kwargs[key] = int(kwargs[key])
        if "sgdr_cycle" in kwargs:
            kwargs["sgdr_cycle"] = int(kwargs["sgdr_cycle"])
        for key in ("learning_rate", "power", "scale", "gamma", "learning_rate_min"):
            if key in kwargs:
                kwargs[key] = float(kwargs[key])
        return cls(**kwargs)

    # ------------------------------------------------------------------ the rate
    def rate(self, batch_num: int) -> float:
        """Learning rate for Darknet's ``batch_num`` (updates made, counting the current one)."""
        k = int(batch_num)
        lr = self.learning_rate
        if k < self.burn_in:
            return lr * math.pow(k / self.burn_in, self.power)
        p = self.policy
        if p == "constant":
            return lr
        if p == "step":
            return lr * math.pow(self.scale, k // self.step)
        if p == "steps":
            rate = lr
            for step, scale in zip(self.steps, self.scales):
                if step > k:
                    return rate
                rate *= scale
            return rate
        if p == "exp":
            return lr * math.pow(self.gamma, k)
        if p == "poly":
            return lr * math.pow(max(0.0, 1.0 - k / self.max_batches), self.power)
        if p == "sigmoid":
            return lr * (1.0 / (1.0 + math.exp(self.gamma * (k - self.step))))
        if p == "random":
            return lr * math.pow(self._rng.random(), self.power)
        # sgdr
        start = 0
        cycle = self.sgdr_cycle if self.sgdr_cycle else self.max_batches
        while start + cycle < k:
            start += cycle
            cycle *= self.sgdr_mult
        lo = self.learning_rate_min
        return lo + 0.5 * (lr - lo) * (1.0 + math.cos((k - start) * _DARKNET_PI / cycle))

    __call__ = rate

    # ------------------------------------------------------------------ resumable state
    def state_dict(self) -> Dict[str, Any]:
        """Only the random policy has state (its generator); the rest is config."""
        return {"rng": self._rng.getstate()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        rng = state.get("rng")
        if rng is not None:
            # getstate() tuples come back as lists after some serialisers; random wants tuples
            version, internal, gauss = rng
            self._rng.setstate((version, tuple(internal), gauss))


def apply_lr(optimizer: Any, rate: float) -> None:
    """Set every param group's lr to ``rate * group['lr_scale']`` (per-layer ``learning_rate=``)."""
    for group in optimizer.param_groups:
        group["lr"] = rate * group.get("lr_scale", 1.0)
