"""``yolov4.classify``: train, validate and run Darknet classifiers (backbone pretraining).

``train`` builds what :class:`~yolov4.engine.trainer.Trainer` needs, as :func:`yolov4.train`
does for detectors, with a :class:`~yolov4.engine.classify_task.ClassificationTask`: the one
training loop (Darknet updates, lr policy, EMA, checkpoints with exact resume, CSV/plots).
A run directory also holds ``names.txt`` (the class names, Darknet's ``labels=`` file) and
``plots/confusion_matrix.png`` of the last validation.
"""
from __future__ import annotations

import json as _json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import torch

from ..darknet.cfg import parse_cfg_text, read_cfg
from ..darknet.graph import Darknet
from ..errors import YoloError
from . import distributed as dist
from .api import (join_processes, load_start, resume_parts, run_config, seed_everything,
                  split_datasets, zoo_or_cfg)
from .checkpoint import load_checkpoint
from .classify_task import ClassificationTask
from .trainer import Trainer, TrainResult

PathLike = Union[str, "os.PathLike[str]"]
NAMES_FILE = "names.txt"


def _datasets(data: Any, log: Callable[[str], None]) -> tuple:
    """The classification datasets of ``data`` (:func:`split_datasets`)."""
    from ..data.classes import load_classification
    return split_datasets(data, load_classification, log)


def classifier_sections(model: Union[str, PathLike], classes: int,
                        log: Callable[[str], None] = print, **model_kwargs: Any) -> list:
    """Sections of a zoo classifier or a classifier ``.cfg``, with ``classes`` outputs.

    A cfg whose last ``[convolutional]`` has another filter count is rewritten to ``classes``
    (Darknet stops with "num of filters ... doesn't match to classes"); the line says so.
    """
    from ..models.classifier import backbone_layers
    sections, path = zoo_or_cfg(model, classes, model_kwargs,
                                zoo="classifiers cspdarknet53, cspdarknet53-tiny")
    if path is not None:
        last = max(i for i, s in enumerate(sections) if s.type in ("convolutional", "conv"))
        if sections[last].get_int("filters", 1) != classes:
            log(f"{path}: the last [convolutional] (line {sections[last].line}) has "
                f"{sections[last].get_int('filters', 1)} filters; set to {classes}, the "
                f"dataset's class count")
            sections[last].set("filters", classes)
    if any(s.type == "yolo" for s in sections):
        raise YoloError(f"model '{model}' is a detector; `yolov4 classify` trains classifiers "
                        f"(cfgs ending with [softmax]); use `yolov4 train`")
    backbone_layers(sections)   # a classifier with [avgpool] (clear error otherwise)
    return sections


def write_names(path: Path, names: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return path


def train(data: Any = None, model: Union[str, PathLike] = "cspdarknet53-tiny", *,
          weights: Optional[PathLike] = None, partial: Optional[int] = None,
          hyp: Optional[PathLike] = None, out: PathLike = "runs/classify",
          resume: Optional[PathLike] = None, model_kwargs: Optional[Mapping[str, Any]] = None,
          verbose: bool = True, log: Callable[[str], None] = print,
          **overrides: Any) -> TrainResult:
    """Train a classifier; returns the :class:`TrainResult` (``metrics``: ``top1``, ``top5``,
    ``acc.<class>``; ``best_fitness``: the best top-1).

    Args:
        data: a folder-per-class directory, a Darknet classifier ``.data`` file, or a
            ``(train, val)`` pair of datasets.
        model: ``cspdarknet53``, ``cspdarknet53-tiny`` or a classifier ``.cfg``.
        weights, partial, hyp, out, resume, model_kwargs, overrides: as :func:`yolov4.train`
            (``size=``, ``batch=``, ``epochs=``, Darknet keys such as ``label_smooth_eps=0.1``,
            ``cutmix=1``, ``mosaic=1``, ``mixup=1``, ``min_crop=``, ``max_crop=``).
    """
    overrides = dict(overrides)
    size = overrides.pop("size", None)
    if size is not None:
        overrides["width"] = overrides["height"] = int(size)
    if resume is None and data is None:
        raise YoloError("classify train: data= is required (or resume=)")
    if not join_processes(overrides, hyp).main:    # under torchrun: rank 0 speaks for the job
        verbose, log = False, (lambda _: None)
    if resume is not None:
        return _resume(resume, data, overrides, verbose, log)
    train_set, val_set = _datasets(data, log)
    names = list(train_set.names)
    kwargs = dict(model_kwargs or {})
    if size is not None and isinstance(model, str) and not str(model).endswith(".cfg"):
        kwargs.setdefault("width", int(size))
        kwargs.setdefault("height", int(size))
    sections = classifier_sections(model, len(names), log, **kwargs)
    cfg, sections = run_config(sections, hyp, overrides, train_set, data, model, weights, log)
    if cfg.label_smooth_eps is not None:          # Darknet reads it from [net] for classifiers
        sections[0].set("label_smooth_eps", cfg.label_smooth_eps)
    seed_everything(cfg.seed)
    net = Darknet.from_cfg(sections)
    cfg = load_start(net, weights, partial, cfg, log)
    if dist.current().main:
        write_names(Path(out) / NAMES_FILE, names)
    task = ClassificationTask(top_k=getattr(val_set, "top", 5) if val_set is not None else 5)
    trainer = Trainer(net, cfg, train_set, val_set, out_dir=str(out), verbose=verbose, log=log,
                      task=task)
    return _finish(trainer.train(), task, cfg)


def _finish(result: TrainResult, task: ClassificationTask, cfg: Any) -> TrainResult:
    if task.last_metrics is not None and cfg.plots:
        from ..eval.classify import plot_confusion
        plot_confusion(task.last_metrics, result.out_dir / "plots" / "confusion_matrix.png")
    return result


def _resume(path: PathLike, data: Any, overrides: Dict[str, Any], verbose: bool,
            log: Callable[[str], None]) -> TrainResult:
    ck, cfg, train_set, val_set, net = resume_parts(path, data, overrides,
                                                    lambda d: _datasets(d, log))
    task = ClassificationTask(top_k=getattr(val_set, "top", 5) if val_set is not None else 5)
    trainer = Trainer(net, cfg, train_set, val_set, out_dir=str(Path(path).parent),
                      checkpoint=ck, verbose=verbose, log=log, task=task)
    from .train_config import TrainConfig
    return _finish(trainer.train(), task, TrainConfig.from_mapping(cfg))


def load_classifier(model: Union[str, PathLike], weights: Optional[PathLike] = None,
                    classes: Optional[int] = None) -> Darknet:
    """A classifier from a cfg/zoo name and Darknet ``.weights`` or a ``.pt`` checkpoint."""
    if weights is not None and Path(weights).suffix == ".pt":
        ck = load_checkpoint(weights)
        net = Darknet.from_cfg(parse_cfg_text(ck["cfg_text"], source=f"{weights}:cfg_text"))
        from .checkpoint import load_model_state
        load_model_state(net, ck["model"], Path(weights))
        return net.eval()
    sections = classifier_sections(model, classes, print) if classes else (
        read_cfg(model) if str(model).endswith(".cfg") else None)
    if sections is None:
        raise YoloError(f"{model}: give classes= (a zoo classifier needs the class count)")
    net = Darknet.from_cfg(sections)
    if weights is not None:
        net.load_weights(weights)
    return net.eval()


def find_names(weights: Optional[PathLike], names: Optional[PathLike]) -> Optional[List[str]]:
    """Class names from ``names`` (one per line), else ``names.txt`` next to ``weights``."""
    from ..data.formats.darknet import read_names
    if names is not None:
        return read_names(Path(names))
    if weights is not None and (Path(weights).parent / NAMES_FILE).exists():
        return read_names(Path(weights).parent / NAMES_FILE)
    return None


def val(data: Any, model: Union[str, PathLike] = "cspdarknet53-tiny", *,
        weights: Optional[PathLike] = None, split: str = "val", batch: int = 32,
        size: Optional[int] = None, top: int = 5, json: Optional[PathLike] = None,
        plots: Optional[PathLike] = None, device: Optional[str] = None) -> Dict[str, float]:
    """Top-1, top-k (``top``) and per-class accuracy of a classifier on a dataset split (the
    pre-processing of ``darknet classifier valid``). ``json``: write the metrics there;
    ``plots``: write ``confusion_matrix.png`` into that folder."""
    from ..data.classes import load_classification
    from ..eval.classify import evaluate_classifier, plot_confusion
    dataset = data if not isinstance(data, (str, Path)) else load_classification(data, split)
    net = load_classifier(model, weights, len(dataset.names))
    dev = torch.device(device or "cpu")
    net.to(dev)
    hw = (size, size) if size else (net.height, net.width)
    metrics = evaluate_classifier(net, dataset, size=hw, batch_size=batch, k=top, device=dev)
    out = metrics.summarize()
    if json is not None:
        Path(json).parent.mkdir(parents=True, exist_ok=True)
        Path(json).write_text(_json.dumps(dict(out, names=list(dataset.names),
                                               confusion=metrics.confusion.tolist()), indent=1))
    if plots is not None:
        plot_confusion(metrics, Path(plots) / "confusion_matrix.png")
    out["report"] = metrics.format_text()  # type: ignore[assignment]
    return out


@dataclass
class Prediction:
    """Top classes of one image: ``classes`` indices, ``probs``, ``names`` (when known)."""

    path: str
    classes: List[int]
    probs: List[float]
    names: Optional[List[str]] = None


def predict(sources: Union[PathLike, Sequence[PathLike]], model: Union[str, PathLike],
            weights: Optional[PathLike] = None, *, names: Optional[PathLike] = None,
            top: int = 5, classes: Optional[int] = None) -> List[Prediction]:
    """The ``top`` classes of each image (a file, a folder or a list), as ``darknet classifier
    predict`` (centre crop after resizing the shorter side)."""
    from ..data.dataset import read_image
    from ..eval.classify import input_batch
    from ..sources import resolve_images
    label_names = find_names(weights, names)
    net = load_classifier(model, weights, classes or (len(label_names) if label_names else None))
    files: List[str] = []
    for s in ([sources] if isinstance(sources, (str, os.PathLike)) else list(sources)):
        files += resolve_images(s)
    out = []
    with torch.no_grad():
        for f in files:
            p = net(input_batch([read_image(f)], (net.height, net.width)))[0].reshape(-1)
            k = min(int(top), p.numel())
            v, i = p.topk(k)
            idx = i.tolist()
            out.append(Prediction(f, idx, v.tolist(),
                                  [label_names[j] for j in idx] if label_names else None))
    return out


__all__ = ["Prediction", "classifier_sections", "find_names", "load_classifier", "predict",
           "train", "val", "write_names"]
