"""``TrainConfig``: the resolved training hyperparameters as one frozen, typed dataclass.

The packaged ``hyp.yaml`` stays the single source of default values and of the comments users
read; this class gives each of its keys a type, the section Darknet reads it from (``net``,
``yolo``, or ``engine`` for ours) and, where the engine needs a value when neither hyp.yaml nor
the cfg gives one, Darknet's default (``src/parser.c: parse_net_options``). The key tables of
:mod:`yolov4.engine.config` (``NET_KEYS``, ``YOLO_KEYS``, ``INT_KEYS``, ...) are derived from it.

``resolve_config`` returns a ``TrainConfig``; it is also a read-only ``Mapping`` (``cfg["batch"]``,
``cfg.get("seed")``, ``dict(cfg)``) for code that takes a dict of Darknet keys (the optimiser,
lr policy and EMA builders, checkpoints). ``None`` on a ``net``/``yolo`` key means "the model
cfg's own value" (per head for ``[yolo]`` keys).
"""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from ..errors import YoloError

POLICIES = ("constant", "step", "steps", "exp", "poly", "sigmoid", "random", "sgdr")


def _key(where: str, darknet: Any = None, choices: Tuple[Any, ...] = ()) -> Any:
    """A hyp.yaml key read from ``where`` (``net``, ``yolo``, ``net+yolo`` or ``engine``)."""
    return field(metadata={"where": where, "darknet": darknet, "choices": choices})


def _run(default: Any = None) -> Any:
    """A value of the run itself, set by ``yolov4.train`` (not in hyp.yaml)."""
    return field(default=default, metadata={"where": "run", "darknet": None, "choices": ()})


@dataclass(frozen=True)
class TrainConfig(Mapping):
    """Every hyperparameter of a training run, resolved (see hyp.yaml for each key's meaning)."""

    # batch and length ([net])
    batch: int = _key("net", 1)
    subdivisions: int = _key("net", 1)
    max_batches: Optional[int] = _key("net")
    epochs: Optional[int] = _key("engine")
    width: Optional[int] = _key("net")
    height: Optional[int] = _key("net")
    # optimiser ([net])
    learning_rate: float = _key("net", 0.001)
    momentum: float = _key("net", 0.9)
    decay: float = _key("net", 0.0001)
    adam: int = _key("net", 0)
    B1: float = _key("net", 0.9)
    B2: float = _key("net", 0.999)
    eps: float = _key("net", 0.000001)
    # lr policy ([net])
    policy: str = _key("net", "constant", POLICIES)
    burn_in: int = _key("net", 0)
    power: float = _key("net", 4.0)
    steps: Optional[List[float]] = _key("net")
    scales: Optional[List[float]] = _key("net")
    step: int = _key("net", 1)
    scale: float = _key("net", 1.0)
    gamma: float = _key("net", 1.0)
    learning_rate_min: float = _key("net", 0.00001)
    sgdr_cycle: Optional[int] = _key("net")
    sgdr_mult: int = _key("net", 2)
    # bag of freebies
    ema_alpha: float = _key("net", 0.0)
    ema_mode: str = _key("engine", choices=("darknet", "every_step"))
    ema_ramp: float = _key("engine")
    adversarial_lr: float = _key("net", 0.0)
    grad_clip: float = _key("engine")
    obj_prior: float = _key("engine")
    bn_momentum: Optional[float] = _key("engine")
    cmbn: int = _key("engine")
    mosaic: Optional[int] = _key("net")
    mixup: Optional[int] = _key("net")
    cutmix: Optional[int] = _key("net")
    letter_box: Optional[int] = _key("net")
    flip: Optional[int] = _key("net")
    blur: Optional[int] = _key("net")
    gaussian_noise: Optional[int] = _key("net")
    hue: Optional[float] = _key("net")
    saturation: Optional[float] = _key("net")
    exposure: Optional[float] = _key("net")
    min_crop: Optional[int] = _key("net")
    max_crop: Optional[int] = _key("net")
    angle: Optional[float] = _key("net")
    aspect: Optional[float] = _key("net")
    crop_scale: Optional[List[float]] = _key("engine")
    jitter: Optional[float] = _key("yolo")
    resize: Optional[float] = _key("yolo")
    random: Optional[float] = _key("yolo")
    resize_step: Optional[int] = _key("net")
    iou_loss: Optional[str] = _key("yolo")
    iou_normalizer: Optional[float] = _key("yolo")
    obj_normalizer: Optional[float] = _key("yolo")
    cls_normalizer: Optional[float] = _key("yolo")
    iou_thresh: Optional[float] = _key("yolo")
    ignore_thresh: Optional[float] = _key("yolo")
    scale_x_y: Optional[float] = _key("yolo")
    focal_loss: Optional[int] = _key("yolo")
    max_delta: Optional[float] = _key("yolo")
    label_smooth_eps: Optional[float] = _key("net+yolo")
    # recipe and safety
    recipe: str = _key("engine", choices=("default", "darknet"))
    nan_patience: int = _key("engine")
    cls_prior: Union[float, str] = _key("engine")
    freeze_loaded: int = _key("engine")
    warmup_momentum: Optional[float] = _key("engine")
    anchors: Optional[str] = _key("engine", choices=(None, "auto"))
    sampling: str = _key("engine", choices=("replacement", "epoch"))
    # engine
    threads: int = _key("engine")
    seed: int = _key("engine")
    workers: int = _key("engine")
    device: Optional[str] = _key("engine")
    amp: int = _key("engine")
    amp_dtype: str = _key("engine", choices=("float16", "bfloat16"))
    channels_last: int = _key("engine")
    compile: int = _key("engine")
    sync_bn: int = _key("engine")
    ddp_timeout: float = _key("engine")
    eval_interval: int = _key("engine")
    patience: int = _key("engine")
    save_period: int = _key("engine")
    conf_thresh: float = _key("engine")
    nms_thresh: float = _key("engine")
    max_val_images: int = _key("engine")
    plots: int = _key("engine")
    tensorboard: int = _key("engine")
    stop_after: int = _key("engine")
    # the run (set by yolov4.train, stored in checkpoints)
    data: Optional[str] = _run()
    model: Optional[str] = _run()
    weights: Optional[str] = _run()
    fresh_layers: Optional[List[int]] = _run()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mapping(cls, values: typing.Mapping[str, Any],
                     defaults: Optional[typing.Mapping[str, Any]] = None) -> "TrainConfig":
        """Typed config from a mapping of keys; keys it lacks come from ``defaults`` (the
        packaged hyp.yaml when None), then Darknet's default. Integers, numbers, lists and
        choices are checked and converted.

        Raises:
            YoloError: an unknown key, or a value of the wrong type / outside its choices.
        """
        if defaults is None:
            from .config import default_hyp
            defaults = default_hyp()
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise YoloError(f"unknown hyperparameter(s) {', '.join(unknown)}; see "
                            f"yolov4/engine/hyp.yaml")
        kw: Dict[str, Any] = {}
        for name, f in known.items():
            value = values[name] if name in values else defaults.get(name)
            if value is None:
                value = f.metadata["darknet"] if f.default is dataclasses.MISSING else f.default
            kw[name] = _convert(name, value, _hints()[name], f.metadata["choices"])
        return cls(**kw)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some keys changed (checked like :meth:`from_mapping`)."""
        return TrainConfig.from_mapping({**self.to_dict(), **changes})

    def to_dict(self) -> Dict[str, Any]:
        """A plain ``{key: value}`` dict (what checkpoints store)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # ------------------------------------------------------------------ Mapping (read-only)
    def __getitem__(self, key: str) -> Any:
        if key not in _names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_names())

    def __len__(self) -> int:
        return len(_names())


def keys_read_from(where: str) -> Tuple[str, ...]:
    """hyp.yaml keys Darknet reads from section ``where`` (``"net"`` or ``"yolo"``)."""
    return tuple(f.name for f in dataclasses.fields(TrainConfig)
                 if where in f.metadata["where"].split("+"))


def keys_of_type(kind: type) -> Tuple[str, ...]:
    """Keys whose value is ``kind`` (``int``, ``list``, ...), optional or not."""
    return tuple(name for name, hint in _hints().items() if _base(hint) is kind)


def darknet_defaults() -> Dict[str, Any]:
    """Darknet's ``parse_net_options`` defaults of the keys the engine needs a value for."""
    return {f.name: f.metadata["darknet"] for f in dataclasses.fields(TrainConfig)
            if f.metadata["darknet"] is not None}


def choices() -> Dict[str, Tuple[Any, ...]]:
    """``{key: allowed values}`` of the keys with a fixed set of values."""
    return {f.name: f.metadata["choices"] for f in dataclasses.fields(TrainConfig)
            if f.metadata["choices"]}


def hyp_keys() -> Tuple[str, ...]:
    """The keys hyp.yaml must hold (every field but the run's own values)."""
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata["where"] != "run")


# ---------------------------------------------------------------------- conversion
_CACHE: Dict[str, Any] = {}


def _hints() -> Dict[str, Any]:
    if "hints" not in _CACHE:
        _CACHE["hints"] = typing.get_type_hints(TrainConfig)
    return _CACHE["hints"]


def _names() -> Tuple[str, ...]:
    if "names" not in _CACHE:
        _CACHE["names"] = tuple(f.name for f in dataclasses.fields(TrainConfig))
    return _CACHE["names"]


def _base(hint: Any) -> Any:
    """``Optional[X]`` -> X; ``List[X]`` -> list; ``Union[float, str]`` -> None (kept as is)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is Union:
        return _base(args[0]) if len(args) == 1 else None
    if origin in (list, List):
        return list
    return hint


def _convert(name: str, value: Any, hint: Any, allowed: Tuple[Any, ...]) -> Any:
    kind = _base(hint)
    if value is not None and not isinstance(value, bool):
        if kind is int:
            try:
                if float(value) != int(float(value)):
                    raise ValueError
                value = int(float(value))
            except (TypeError, ValueError):
                raise YoloError(f"hyperparameter {name}={value!r} must be an integer") from None
        elif kind is float:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise YoloError(f"hyperparameter {name}={value!r} must be a number") from None
        elif kind is list and not isinstance(value, (list, tuple)):
            value = [value]
        elif kind is list:
            value = list(value)
    if allowed and value is not None and value not in allowed:
        raise YoloError(f"hyperparameter {name}={value!r}: choose one of "
                        f"{', '.join(str(a) for a in allowed)}")
    return value
