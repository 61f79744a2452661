"""``yolov4.train(data=..., model=..., **overrides)``: the Python entry point of training.

Builds everything the :class:`~yolov4.engine.trainer.Trainer` needs: the datasets
(``load_dataset``), the model (a zoo name via ``build_sections`` or a ``.cfg`` path, with the
dataset's class count), the resolved configuration (``yolov4.engine.config``), the starting
weights (``yolov4.engine.starting``), or everything from a checkpoint with ``resume=``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Union

import numpy as np
import torch

from ..darknet.cfg import parse_cfg_text, read_cfg, write_cfg_text
from ..darknet.graph import Darknet, set_classes
from ..darknet.yolo_settings import yolo_settings
from ..data.anchors import check_anchors
from ..errors import DataError, YoloError
from . import distributed as dist
from .checkpoint import load_checkpoint
from .config import apply_to_sections, default_hyp, load_hyp_file, parse_overrides, resolve_config
from .starting import init_from_weights
from .trainer import Trainer, TrainResult

PathLike = Union[str, "os.PathLike[str]"]

#: Keys that may change when resuming (they do not alter the optimisation).
RESUME_OVERRIDES = ("device", "workers", "eval_interval", "patience", "plots", "tensorboard",
                    "stop_after", "save_period", "max_val_images", "ddp_timeout", "threads",
                    "compile")


def split_datasets(data: Any, load: Callable[[Any, str], Any],
                   log: Callable[[str], None] = print) -> tuple:
    """``(train, val)``: ``load(data, "train")`` and ``load(data, "val")`` (None, said in a
    line, when there is no validation split), or a ``(train, val)`` pair of dataset objects.

    Under several processes rank 0 reads (scans, caches) first and the others wait for it
    (``ddp_timeout``), then read what it wrote."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (str, Path)):
        return data[0], data[1]
    with dist.main_first(dist.current()):
        train = load(data, "train")
        try:
            val = load(data, "val")
        except DataError as err:
            log(f"no validation split ({err}); training without validation")
            val = None
    return train, val


def _datasets(data: Any, log: Callable[[str], None] = print) -> tuple:
    """The detection datasets of ``data`` (:func:`split_datasets` with ``load_dataset``)."""
    from ..data.formats import load_dataset
    return split_datasets(data, load_dataset, log)


def resume_parts(path: PathLike, data: Any, overrides: Dict[str, Any],
                 datasets: Callable[[Any], tuple]) -> tuple:
    """What resuming ``path`` needs: ``(checkpoint, config dict with the allowed overrides,
    train set, val set, the rebuilt Darknet)``; ``datasets(data)`` reads the data (the
    checkpoint's own when ``data`` is None)."""
    ck = load_checkpoint(path)
    cfg = dict(ck["config"])
    bad = sorted(k for k in overrides if k not in RESUME_OVERRIDES and overrides[k] is not None)
    if bad:
        raise YoloError(f"{path}: cannot change {', '.join(bad)} when resuming (they would "
                        f"change the run); allowed: {', '.join(RESUME_OVERRIDES)}")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    if data is None:
        data = cfg.get("data")
        if not data:
            raise YoloError(f"{path}: the checkpoint was trained on in-memory datasets; pass data=")
    train_set, val_set = datasets(data)
    if not ck.get("cfg_text"):
        raise YoloError(f"{path}: checkpoint holds no cfg text; cannot rebuild the model")
    net = Darknet.from_cfg(parse_cfg_text(ck["cfg_text"], source=f"{path}:cfg_text"))
    return ck, cfg, train_set, val_set, net


def join_processes(overrides: Mapping[str, Any], hyp: Optional[PathLike]) -> dist.DistInfo:
    """Join torchrun's process group when launched by it (once per process).

    ``ddp_timeout`` and ``device`` are read before the config is resolved (the group must
    exist before rank 0 scans the dataset): overrides, then ``--hyp``, then hyp.yaml."""
    if not dist.launched_world().enabled:
        return dist.DistInfo()
    values = dict(default_hyp())
    if hyp is not None:
        values.update({k: v for k, v in load_hyp_file(hyp).items() if v is not None})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return dist.setup(values.get("device"), float(values.get("ddp_timeout") or 1800))[0]


def zoo_or_cfg(model: Union[str, PathLike], classes: int, model_kwargs: Mapping[str, Any],
               zoo: str = "") -> tuple:
    """``(sections, None)`` of a zoo name built for ``classes``, or ``(sections, path)`` of an
    existing ``.cfg`` as written; a clear error for anything else (``zoo`` names the zoo
    models the message offers; default: all)."""
    from ..models import build_sections, list_models
    if isinstance(model, str) and model in list_models():
        return build_sections(model, classes=classes, **model_kwargs), None
    path = Path(model)
    if path.suffix != ".cfg" or not path.exists():
        raise YoloError(f"model '{model}' is neither a zoo model ({zoo or ', '.join(list_models())}) "
                        f"nor an existing .cfg file")
    if model_kwargs:
        raise YoloError(f"{path}: model options {sorted(model_kwargs)} only apply to zoo models")
    return read_cfg(path), path


def model_sections(model: Union[str, PathLike], classes: int, *,
                   log: Callable[[str], None] = print, **model_kwargs: Any) -> list:
    """Sections of a zoo model name or a ``.cfg`` path, with ``classes`` in every ``[yolo]``."""
    sections, path = zoo_or_cfg(model, classes, model_kwargs)
    if path is None:
        return sections
    if any(y.classes != classes for y in yolo_settings(sections)):
        log(f"{path}: [yolo] classes set to {classes} (the dataset's class count); the convs "
              f"feeding [yolo] get filters = len(mask)*(5+{classes})")
        set_classes(sections, classes)
    return sections


def run_config(sections: list, hyp: Optional[PathLike], overrides: Mapping[str, Any],
               train_set: Any, data: Any, model: Any, weights: Optional[PathLike],
               log: Callable[[str], None]) -> tuple:
    """``(TrainConfig, sections)``: the resolved configuration (its notes logged, the run's
    data/model/weights recorded) and the sections with its cfg keys applied."""
    cfg, notes = resolve_config(sections, hyp_file=hyp, overrides=dict(overrides),
                                dataset_len=len(train_set))
    for line in notes:
        log(line)
    cfg = cfg.replace(data=str(data) if isinstance(data, (str, Path)) else None,
                      model=str(model), weights=str(weights) if weights else None)
    return cfg, apply_to_sections(sections, cfg)


def load_start(net: Darknet, weights: Optional[PathLike], partial: Optional[int], cfg: Any,
               log: Callable[[str], None]) -> Any:
    """Load the starting ``weights`` (layers ``[0, partial)``) into ``net``; the config with
    the layers left fresh recorded (``fresh_layers``; None = all start from scratch)."""
    if weights is None:
        return cfg
    start = init_from_weights(net, weights, upto=partial)
    for line in start.lines:
        log(line)
    return cfg.replace(fresh_layers=start.fresh)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    data: Any = None,
    model: Union[str, PathLike] = "yolov4-tiny",
    *,
    weights: Optional[PathLike] = None,
    partial: Optional[int] = None,
    hyp: Optional[PathLike] = None,
    out: PathLike = "runs/train",
    resume: Optional[PathLike] = None,
    model_kwargs: Optional[Mapping[str, Any]] = None,
    verbose: bool = True,
    log: Callable[[str], None] = print,
    **overrides: Any,
) -> TrainResult:
    """Train a YOLO model; returns a :class:`TrainResult` (paths of last/best checkpoints, the
    Darknet ``model.cfg`` + ``model.weights``, final metrics, loss history).

    Args:
        data: dataset path (data.yaml, .data, COCO json, VOC dir) or a ``(train, val)`` pair.
        model: zoo name (``yolov4``, ``yolov4-tiny``, ...) or a ``.cfg`` path.
        weights: starting weights: Darknet ``.weights`` (whole, partial, or another class
            count) or a yolov4 ``.pt`` checkpoint. ``partial=N`` loads only layers ``[0, N)``.
        hyp: a YAML file of hyperparameters (keys of ``yolov4/engine/hyp.yaml``).
        out: run directory (``last.pt``, ``best.pt``, ``model.cfg``, ``model.weights``, CSV,
            plots).
        resume: a ``last.pt`` to continue exactly (its config and data are reused).
        model_kwargs: zoo options, e.g. ``{"width_multiple": 0.25, "depth_multiple": 0.33}``.
        **overrides: hyperparameters by Darknet key (``batch=16``, ``subdivisions=2``,
            ``epochs=10``, ``learning_rate=0.001``, ``ema_alpha=0.9998``, ``size=416``...).
    """
    overrides = dict(overrides)
    if "size" in overrides:
        size = overrides.pop("size")
        if size is not None:
            overrides["width"] = overrides["height"] = int(size)
    if resume is None and data is None:
        raise YoloError("train: data= is required (or resume=)")
    info = join_processes(overrides, hyp)
    if not info.main:                       # rank 0 speaks for the job
        verbose, log = False, (lambda _: None)
    if resume is not None:
        return _resume(resume, data, overrides, verbose, log)
    return _train(data, model, weights, partial, hyp, out, model_kwargs, verbose, log, overrides)


def _train(data: Any, model: Union[str, PathLike], weights: Optional[PathLike],
           partial: Optional[int], hyp: Optional[PathLike], out: PathLike,
           model_kwargs: Optional[Mapping[str, Any]], verbose: bool,
           log: Callable[[str], None], overrides: Dict[str, Any]) -> TrainResult:
    train_set, val_set = _datasets(data, log)
    classes = len(train_set.names)
    sections = model_sections(model, classes, log=log, **dict(model_kwargs or {}))
    cfg, sections = run_config(sections, hyp, overrides, train_set, data, model, weights, log)
    sections, lines = check_anchors(sections, train_set,
                                    cfg.width or sections[0].get_int("width", 416),
                                    cfg.height or sections[0].get_int("height", 416),
                                    refit=cfg.anchors == "auto")
    for line in lines:
        log(line)
    info = dist.current()
    dist.check_same(write_cfg_text(sections) + repr(sorted(cfg.to_dict().items())),
                    "resolved model cfg and hyperparameters", info)
    seed_everything(cfg.seed)
    net = Darknet.from_cfg(sections)
    cfg = load_start(net, weights, partial, cfg, log)
    trainer = Trainer(net, cfg, train_set, val_set, out_dir=str(out), verbose=verbose, log=log)
    return trainer.train()


def _resume(path: PathLike, data: Any, overrides: Dict[str, Any], verbose: bool,
            log: Callable[[str], None]) -> TrainResult:
    ck, cfg, train_set, val_set, net = resume_parts(path, data, overrides,
                                                    lambda d: _datasets(d, log))
    trainer = Trainer(net, cfg, train_set, val_set, out_dir=str(Path(path).parent),
                      checkpoint=ck, verbose=verbose, log=log)
    return trainer.train()


__all__ = ["train", "model_sections", "parse_overrides", "RESUME_OVERRIDES", "join_processes"]
