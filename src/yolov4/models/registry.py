"""Model registry: named builders, ``build_sections`` and ``create_model``.

A builder is a function registered with ``@register("name")`` that takes keyword options and
returns Darknet sections (``[net]`` first). ``create_model`` turns them into the layer graph
(:class:`yolov4.darknet.graph.Darknet`, imported on first use so the registry stays torch-free).
"""
from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union

from ..darknet.cfg import Section
from .builder import ModelError
from .head import YOLO_OPTIONS

if TYPE_CHECKING:  # pragma: no cover
    from ..darknet.graph import Darknet

BuilderFn = Callable[..., List[Section]]
_BUILDERS: Dict[str, BuilderFn] = {}


def register(name: str) -> Callable[[BuilderFn], BuilderFn]:
    """Decorator: make a section builder available as ``name``."""

    def wrap(fn: BuilderFn) -> BuilderFn:
        if name in _BUILDERS and _BUILDERS[name] is not fn:
            raise ValueError(f"model '{name}' is registered twice")
        _BUILDERS[name] = fn
        return fn

    return wrap


def list_models() -> List[str]:
    """Names of the registered models, sorted."""
    return sorted(_BUILDERS)


def get_builder(name: str) -> BuilderFn:
    """The builder registered as ``name``; raises :class:`ModelError` for unknown names."""
    try:
        return _BUILDERS[name]
    except KeyError:
        raise ModelError(f"unknown model '{name}' (known: {', '.join(list_models())})") from None


def model_options(name: str) -> Dict[str, Any]:
    """Options of model ``name`` with their defaults (``[yolo]`` keys not included)."""
    params = inspect.signature(get_builder(name)).parameters
    return {k: p.default for k, p in params.items() if k != "yolo"}


def build_sections(name: str, *, classes: int = 80, width: Optional[int] = None,
                   height: Optional[int] = None, anchors: Optional[Any] = None,
                   width_multiple: float = 1.0, depth_multiple: float = 1.0,
                   **options: Any) -> List[Section]:
    """Darknet sections of model ``name`` (``[net]`` first, with the official training keys).

    Args:
        classes: number of classes of every ``[yolo]`` head.
        width, height: network input size (multiples of 32); ``None`` keeps the official size.
        anchors: ``[w0, h0, w1, h1, ...]`` pixels or ``(w, h)`` pairs; ``None``: official.
        width_multiple, depth_multiple: channel and block-count multipliers (small CPU models).
        options: the model's architecture switches (see ``model_options(name)``), ``net={...}``
            extra ``[net]`` keys, and ``[yolo]`` keys (``iou_loss="giou"``, ``scale_x_y=[1.2,
            1.1, 1.05]`` one value per head, ...) applied to every head. ``None`` values
            mean the model's default (so callers can pass every switch through unchanged).

    Raises:
        ModelError: unknown model or option, or an option value the model cannot build.
    """
    builder = get_builder(name)
    params = inspect.signature(builder).parameters
    options = {k: v for k, v in options.items() if v is not None}  # None: the model's default
    yolo = {k: options.pop(k) for k in list(options) if k in YOLO_OPTIONS and k not in params}
    unknown = sorted(set(options) - set(params))
    if unknown:
        known = sorted(set(params) - {"yolo"}) + sorted(YOLO_OPTIONS)
        raise ModelError(f"model '{name}': unknown option(s) {', '.join(unknown)} "
                         f"(known: {', '.join(known)})")
    kwargs: Dict[str, Any] = dict(options, classes=classes, anchors=anchors,
                                  width_multiple=width_multiple, depth_multiple=depth_multiple,
                                  yolo=yolo)
    if width is not None:
        kwargs["width"] = width
    if height is not None:
        kwargs["height"] = height
    return builder(**kwargs)


def create_model(name: str, *, classes: int = 80,
                 weights: Optional[Union[str, "os.PathLike[str]"]] = None,
                 bn_eps: float = 1e-5, **options: Any) -> "Darknet":
    """The layer graph of model ``name``: ``Darknet.from_cfg(build_sections(name, ...))``.

    Args:
        classes, options: as :func:`build_sections`.
        weights: optional Darknet ``.weights`` file to load (its layout must match).
        bn_eps: BatchNorm epsilon (Darknet's 1e-5).
    """
    from ..darknet.graph import Darknet  # torch is imported only when a model is built

    sections = build_sections(name, classes=classes, **options)
    net = Darknet.from_cfg(sections, bn_eps=bn_eps)
    if weights is not None:
        net.load_weights(weights)
    return net
