"""Training checkpoints: atomic write, and a load that says why it failed.

A checkpoint is a ``torch.save`` dict::

    {"format": "yolov4-train", "version": 1,
     "model": state_dict, "optimizer": state_dict, "scheduler": state_dict, "ema": state|None,
     "iteration": int (updates done), "epoch": int, "best_fitness": float,
     "rng": {"python": json str, "numpy": json str, "torch": ByteTensor, "cuda": [ByteTensor]|None},
     "loader": json str (the loader's resumable state), "config": dict (the full hyperparameters),
     "cfg_text": str (the Darknet .cfg of the model), "history": list[dict]}

Everything in it is plain data (tensors, str, numbers, lists, dicts), so it loads with
``torch.load(weights_only=True)``: opening a checkpoint never runs code from the file.
Writes go to a temp file in the same folder, are fsync'ed and then ``os.replace``'d over the
target, so a crash never leaves a half-written ``last.pt``.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_write
from ..errors import CheckpointError

FORMAT = "yolov4-train"
VERSION = 1
REQUIRED = ("model", "iteration", "config")

PathLike = Union[str, os.PathLike]


# ---------------------------------------------------------------------- RNG state
def _np_state_to_json(state: Mapping[str, Any]) -> str:
    def enc(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return {"__nd__": v.tolist(), "dtype": str(v.dtype)}
        if isinstance(v, dict):
            return {k: enc(x) for k, x in v.items()}
        if isinstance(v, (np.integer,)):
            return int(v)
        return v
    return json.dumps(enc(dict(state)))


def _np_state_from_json(text: str) -> Dict[str, Any]:
    def dec(v: Any) -> Any:
        if isinstance(v, dict) and "__nd__" in v:
            return np.asarray(v["__nd__"], dtype=v["dtype"])
        if isinstance(v, dict):
            return {k: dec(x) for k, x in v.items()}
        return v
    return dec(json.loads(text))


def capture_rng() -> Dict[str, Any]:
    """The global RNG states of python ``random``, numpy's legacy generator and torch (+CUDA)."""
    return {
        "python": json.dumps(random.getstate()),
        "numpy": _np_state_to_json(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(_np_state_from_json(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------- save
def atomic_save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` to ``path`` atomically (:func:`yolov4.atomic.atomic_write`)."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def make_checkpoint(
    *,
    model: nn.Module,
    iteration: int,
    config: Mapping[str, Any],
    cfg_text: str = "",
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
    ema: Optional[Any] = None,
    epoch: int = 0,
    best_fitness: float = float("-inf"),
    loader_state: Optional[Mapping[str, Any]] = None,
    history: Optional[list] = None,
) -> Dict[str, Any]:
    """Assemble the checkpoint dict described in the module docstring."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "ema": ema.state_dict() if ema is not None else None,
        "iteration": int(iteration),
        "epoch": int(epoch),
        "best_fitness": float(best_fitness),
        "rng": capture_rng(),
        "loader": json.dumps(loader_state) if loader_state is not None else None,
        "config": json.loads(json.dumps(dict(config), default=str)),
        "cfg_text": cfg_text,
        "history": list(history or []),
    }


# ---------------------------------------------------------------------- load
def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read and validate a checkpoint; raise :class:`CheckpointError` saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, expected a .pt checkpoint (e.g. {path}/last.pt)")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), the write was interrupted?")
    try:
        ckpt = torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, zip errors ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if path.suffix == ".weights":
            hint = " (this is a Darknet .weights file: pass it as --weights, not --resume)"
        else:
            hint = ""
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({size} bytes; truncated or another "
            f"format?): {reason[:200]}{hint}"
        ) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: holds a {type(ckpt).__name__}, not a yolov4 training checkpoint")
    if ckpt.get("format") != FORMAT:
        missing = [k for k in REQUIRED if k not in ckpt]
        raise CheckpointError(
            f"{path}: not a yolov4 training checkpoint (format={ckpt.get('format')!r}"
            + (f", missing {', '.join(missing)}" if missing else "") + ")"
        )
    if int(ckpt.get("version", 0)) > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {ckpt.get('version')} is newer than this yolov4 "
            f"understands ({VERSION})"
        )
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint is missing {', '.join(missing)}")
    return ckpt


def load_model_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: PathLike) -> None:
    """``model.load_state_dict(state)`` with a message naming missing/unexpected/mis-shaped keys.

    Keys written by a wrapped model (``module.`` of DDP, ``_orig_mod.`` of ``torch.compile``)
    load too: the prefixes are removed first."""
    from .distributed import strip_wrapper_prefixes
    state = strip_wrapper_prefixes(dict(state))
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append("shape mismatch: " + "; ".join(shapes[:3]) + (" ..." if len(shapes) > 3 else ""))
        if missing:
            parts.append(f"{len(missing)} model tensors missing (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (first: {unexpected[0]})")
        raise CheckpointError(
            f"{source}: checkpoint does not fit this model (different cfg or class count?): "
            + "; ".join(parts)
        )
    model.load_state_dict(state)


def loader_state_of(ckpt: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The loader's state stored by :func:`make_checkpoint`, or None."""
    text = ckpt.get("loader")
    return None if text is None else json.loads(text)
