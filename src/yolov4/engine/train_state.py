"""What a training run keeps and leaves: the checkpoint of the trainer's whole state (written
atomically, restored exactly), the Darknet files exported at the end, and :class:`TrainResult`.

A checkpoint (:mod:`yolov4.engine.checkpoint`) holds the model, optimiser, lr policy, EMA and
AMP scaler states, the global RNG states, and ``position``: where in the epoch the run stopped
(``epoch_iter``), the early-stopping and non-finite-update counters, the SAT coin's RNG and the
per-iteration log rows, so that resuming continues the very same run.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import torch

from .checkpoint import atomic_save, load_model_state, make_checkpoint, restore_rng
from .ema import ModelEMA
from .sync_bn import revert_sync_batchnorm

if TYPE_CHECKING:
    from .trainer import Trainer


@dataclass
class TrainResult:
    """What a run produced. Paths are inside ``out_dir``; metrics are the last validation's."""

    out_dir: Path
    last: Path
    best: Optional[Path]
    cfg: Path
    weights: Path
    iterations: int
    epochs: int
    metrics: Dict[str, float] = field(default_factory=dict)
    best_fitness: float = float("-inf")
    stopped_early: bool = False
    skipped_updates: int = 0
    history: List[Dict[str, Any]] = field(default_factory=list)
    losses: List[Dict[str, float]] = field(default_factory=list)


def save_state(t: "Trainer", name: str) -> Path:
    """Write ``t.out / name`` atomically on rank 0 (other ranks write nothing); a model holding
    non-finite values is not written, so a good checkpoint is never replaced by a broken one."""
    target = t.out / name
    if not t.dist.main:
        return target
    bad = [k for k, v in t.net.state_dict().items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        t.log(f"not writing {target}: the model holds non-finite values ({bad[0]}"
              + (f" and {len(bad) - 1} more" if len(bad) > 1 else "") + ")")
        return target
    pos = {"epoch_iter": t.epoch_iter, "bad_evals": t.bad_evals,
           "skipped": t.skipped, "bad_updates": t.bad_updates,
           "sat_rng": list(t.sat_rng.getstate()), "losses": t.runlog.iterations}
    ck = make_checkpoint(model=t.net, iteration=t.iteration, config=t.cfg,
                         cfg_text=t.cfg_text, optimizer=t.optimizer,
                         scheduler=t.policy, ema=t.ema, epoch=t.epoch,
                         best_fitness=t.best_fitness, history=t.runlog.epochs)
    ck["position"] = pos
    ck["scaler"] = t.scaler.state_dict() if t.scaler is not None else None
    return atomic_save(ck, target)


def restore_state(t: "Trainer", ck: Dict[str, Any]) -> None:
    """Put the state saved by :func:`save_state` back into trainer ``t`` (built as before)."""
    load_model_state(t.net, ck["model"], t.out / "last.pt")
    if ck.get("optimizer"):
        t.optimizer.load_state_dict(ck["optimizer"])
    if ck.get("scheduler"):
        t.policy.load_state_dict(ck["scheduler"])
    if t.ema is not None and ck.get("ema"):
        t.ema.load_state_dict(ck["ema"])
    if t.scaler is not None and ck.get("scaler"):
        t.scaler.load_state_dict(ck["scaler"])
    t.iteration, t.epoch = int(ck["iteration"]), int(ck["epoch"])
    pos = ck.get("position") or {}
    t.epoch_iter = int(pos.get("epoch_iter", 0))
    t.best_fitness = float(ck.get("best_fitness", float("-inf")))
    t.bad_evals = int(pos.get("bad_evals", 0))
    t.skipped, t.bad_updates = int(pos.get("skipped", 0)), int(pos.get("bad_updates", 0))
    t.runlog.restore(ck.get("history", []), pos.get("losses", []))
    if pos.get("sat_rng"):
        v, internal, g = pos["sat_rng"]
        t.sat_rng.setstate((v, tuple(internal), g))
    restore_rng(ck["rng"])


def export_final(net: torch.nn.Module, ema: Any, out: Path) -> None:
    """Write ``model.cfg`` + ``model.weights`` (the every-step EMA's weights when there is one)
    and, for Darknet's EMA schedule, ``model_ema.weights``; SyncBatchNorm goes back to the
    BatchNorm2d the exports know (same tensors)."""
    revert_sync_batchnorm(net)
    if isinstance(ema, ModelEMA):
        revert_sync_batchnorm(ema.ema)
    final = net
    if isinstance(ema, ModelEMA):
        final = copy.deepcopy(net)
        final.load_state_dict(ema.ema_state_dict())
    final.save_cfg(out / "model.cfg")
    final.save_weights(out / "model.weights")
    if ema is not None and not isinstance(ema, ModelEMA) and ema.shadow:
        ema_net = copy.deepcopy(net)
        ema_net.load_state_dict(ema.ema_state_dict())
        ema_net.save_weights(out / "model_ema.weights")
