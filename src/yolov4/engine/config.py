"""Training configuration: the packaged hyp.yaml, the model's [net]/[yolo] values, user files and overrides.

Precedence, lowest first: ``hyp.yaml`` (package data) < the model's ``.cfg`` < hyp.yaml's
``recipe_default`` block (``recipe_classifier`` for a classifier cfg; only with ``recipe=default``,
the default) < ``--hyp FILE`` < overrides (CLI
flags, ``key=value``, ``yolov4.train(**overrides)``). Keys are Darknet's names
(see hyp.yaml). :func:`resolve_config` returns one frozen
:class:`~yolov4.engine.train_config.TrainConfig` (also a read-only mapping of those keys); :func:`apply_to_sections` writes
the Darknet keys back into the [net] and [yolo] sections, so the data pipeline (configured from
[net]) and the saved ``.cfg`` see the same values as the optimiser.
"""
from __future__ import annotations

import copy
import difflib
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import yaml

from ..darknet.cfg import Section
from ..darknet.yolo_settings import YoloSettings
from ..errors import YoloError
from .train_config import (TrainConfig, choices, darknet_defaults, keys_of_type,
                           keys_read_from)

# The key tables below are derived from TrainConfig's fields (one declaration per key).
NET_KEYS = keys_read_from("net")
YOLO_KEYS = keys_read_from("yolo")
# Darknet's defaults (src/parser.c: parse_net_options) for keys the engine itself uses.
DARKNET_DEFAULTS: Dict[str, Any] = darknet_defaults()
LIST_KEYS = tuple(k for k in keys_of_type(list) if k in NET_KEYS)
INT_KEYS = keys_of_type(int)
RECIPE_BLOCK = "recipe_default"
#: hyp.yaml's block of the default recipe for classifiers (cfgs ending with [softmax], no [yolo]).
CLASSIFIER_RECIPE_BLOCK = "recipe_classifier"
RECIPE_BLOCKS = (RECIPE_BLOCK, CLASSIFIER_RECIPE_BLOCK)
#: [yolo] augmentation strengths the recipe only ever lowers (a cfg with less keeps its own).
AUGMENT_CAPS = ("jitter", "resize")
CHOICES = choices()

PathLike = Union[str, Path]


def _packaged() -> Dict[str, Any]:
    text = resources.files("yolov4.engine").joinpath("hyp.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def default_hyp() -> Dict[str, Any]:
    """The packaged ``hyp.yaml`` as a dict (all keys, mostly ``None``), without the recipe
    blocks (:func:`recipe_defaults`)."""
    hyp = _packaged()
    for block in RECIPE_BLOCKS:
        hyp.pop(block, None)
    return hyp


def recipe_defaults(classifier: bool = False) -> Dict[str, Any]:
    """What ``recipe=default`` sets over the cfg: hyp.yaml's ``recipe_default`` block, or its
    ``recipe_classifier`` block for a classifier."""
    return dict(_packaged().get(CLASSIFIER_RECIPE_BLOCK if classifier else RECIPE_BLOCK) or {})


def is_classifier(sections: Sequence[Section]) -> bool:
    """A classifier cfg: a ``[softmax]`` and no ``[yolo]`` (Darknet's classifiers)."""
    types = {s.type for s in sections}
    return "softmax" in types and "yolo" not in types


def _check_keys(values: Mapping[str, Any], where: str, known: Sequence[str]) -> None:
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise YoloError(f"{where}: unknown hyperparameter '{key}'{hint}; see yolov4/engine/hyp.yaml")


def read_yaml(path: PathLike, not_found: str) -> Any:
    """The parsed YAML file ``path``; a missing file raises ``YoloError(not_found)``, invalid
    YAML ``YoloError("<path>: not valid YAML: <first line of the parser's message>")``."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise YoloError(not_found) from None
    except yaml.YAMLError as err:
        raise YoloError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None


def load_hyp_file(path: PathLike) -> Dict[str, Any]:
    """A user hyperparameter YAML (a mapping of hyp.yaml keys)."""
    path = Path(path)
    data = read_yaml(path, f"{path}: hyperparameter file not found")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise YoloError(f"{path}: expected a mapping of hyperparameters, got {type(data).__name__}")
    _check_keys(data, str(path), list(default_hyp()))
    return dict(data)


def parse_overrides(items: Sequence[str]) -> Dict[str, Any]:
    """``["learning_rate=0.01", "steps=800,900"]`` -> dict (values parsed as YAML scalars)."""
    out: Dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise YoloError(f"override '{item}' is not key=value")
        key, value = item.split("=", 1)
        key = key.strip()
        value = value.strip()
        try:
            parsed = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            parsed = value
        if isinstance(parsed, str) and "," in parsed:
            parsed = [_scalar(v) for v in parsed.split(",") if v.strip()]
        out[key] = parsed
    _check_keys(out, "override", list(default_hyp()))
    return out


def _scalar(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_show(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cfg_value(section: Section, key: str) -> Any:
    raw = section.options[key]
    if key in LIST_KEYS or "," in raw:
        return [_scalar(v) for v in raw.split(",") if v.strip()]
    return _scalar(raw)


def resolve_config(
    sections: Sequence[Section],
    *,
    hyp_file: Optional[PathLike] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    dataset_len: Optional[int] = None,
) -> Tuple[TrainConfig, List[str]]:
    """Merge the sources (see module docstring); return ``(config, notes)``.

    ``notes`` are human-readable lines about derived values (max_batches from epochs, steps and
    burn_in rescaled) for the trainer to print.
    """
    cfg = default_hyp()
    net = sections[0]
    for key in NET_KEYS:
        if key in net.options:
            cfg[key] = _cfg_value(net, key)
    # [yolo] keys stay None unless the user sets them: the layers keep their own per-head values
    # (scale_x_y differs per head in yolov4.cfg) and only user settings are written to every head.
    user: Dict[str, Any] = {}
    if hyp_file is not None:
        user.update({k: v for k, v in load_hyp_file(hyp_file).items() if v is not None})
    if overrides:
        _check_keys(overrides, "override", list(cfg))
        user.update({k: v for k, v in overrides.items() if v is not None})
    recipe = user.get("recipe", cfg.get("recipe"))
    recipe_note = "recipe=darknet: the cfg's training values and Darknet's behaviour"
    if recipe == "default":
        classifier = is_classifier(sections)
        applied = {k: v for k, v in recipe_defaults(classifier).items() if k not in user}
        yolo = next((s for s in sections if s.type == "yolo"), None)
        if yolo is None and not classifier:   # neither: the [yolo] keys do not apply
            applied = {k: v for k, v in applied.items()
                       if k not in YOLO_KEYS and k not in ("obj_prior", "cls_prior")}
        for key in AUGMENT_CAPS:    # the recipe lowers augmentation, never raises it
            if key in applied and yolo is not None and yolo.has(key):
                if getattr(YoloSettings.from_section(yolo), key) <= float(applied[key]):
                    del applied[key]
        changed = [f"{k}={_show(v)}" + (f" (cfg {_show(cfg[k])})" if cfg.get(k) is not None
                                        and cfg[k] != v else "")
                   for k, v in applied.items()]
        cfg.update(applied)
        recipe_note = ("recipe=default (recipe=darknet for Darknet's exactly): "
                       + (", ".join(changed) or "every recipe key set by you"))
    cfg.update(user)
    crops = _crops_from_scale(cfg, net, user)
    if crops:
        recipe_note += f" ({crops})"
    cfg = TrainConfig.from_mapping(cfg).to_dict()   # Darknet's defaults, types and choices
    notes: List[str] = [recipe_note]

    batch, subdiv = cfg["batch"], cfg["subdivisions"]
    if batch < 1 or subdiv < 1:
        raise YoloError(f"batch={batch} and subdivisions={subdiv} must be >= 1")
    if batch % subdiv:
        raise YoloError(f"batch={batch} is not divisible by subdivisions={subdiv}")
    derived = False
    if cfg.get("epochs") and "max_batches" not in user:
        if not dataset_len:
            raise YoloError("epochs needs a dataset length to derive max_batches")
        per_epoch = dataset_len // batch
        if per_epoch < 1:
            raise YoloError(f"the training split has {dataset_len} images, fewer than "
                            f"batch={batch}: lower --batch")
        cfg["max_batches"] = cfg["epochs"] * per_epoch
        notes.append(f"max_batches={cfg['max_batches']} = epochs {cfg['epochs']} x "
                     f"{per_epoch} iterations ({dataset_len} images // batch {batch})")
        derived = True
    elif "max_batches" in user:
        derived = True
    if not cfg.get("max_batches"):
        raise YoloError("set max_batches or epochs (the model cfg has no max_batches)")
    mb = cfg["max_batches"]
    if derived and cfg["policy"] == "steps" and "steps" not in user:
        cfg["steps"] = [max(1, int(0.8 * mb)), max(1, int(0.9 * mb))]
        if not cfg.get("scales") or len(cfg["scales"]) != 2:
            cfg["scales"] = [0.1, 0.1]
        notes.append(f"steps={cfg['steps'][0]},{cfg['steps'][1]} (80%, 90% of max_batches)")
    if cfg["policy"] == "steps" and not cfg.get("steps"):
        cfg["steps"], cfg["scales"] = [max(1, int(0.8 * mb)), max(1, int(0.9 * mb))], [0.1, 0.1]
    if derived and "burn_in" not in user and cfg["burn_in"] > mb // 10:
        cfg["burn_in"] = mb // 10
        notes.append(f"burn_in={cfg['burn_in']} (capped at max_batches/10)")
    return TrainConfig.from_mapping(cfg), notes


def _crops_from_scale(cfg: Dict[str, Any], net: Section, user: Mapping[str, Any]) -> str:
    """``crop_scale: [a, b]`` -> ``min_crop = round(a·width)``, ``max_crop = round(b·width)``
    (each only when the user did not set it); returns a note, or "" when nothing was set."""
    scale = cfg.get("crop_scale")
    if not scale:
        return ""
    if not isinstance(scale, (list, tuple)) or len(scale) != 2 or not 0 < scale[0] <= scale[1]:
        raise YoloError(f"crop_scale must be two numbers 0 < min <= max (multiples of the "
                        f"network width), got {scale!r}")
    width = int(cfg.get("width") or net.get_int("width", 256))
    done = []
    for key, factor in zip(("min_crop", "max_crop"), scale):
        if key not in user:
            cfg[key] = max(1, int(round(float(factor) * width)))
            done.append(f"{key}={cfg[key]}")
    return (", ".join(done) + f" = crop_scale {_show(list(scale))} x width {width}") if done else ""


def apply_to_sections(sections: Sequence[Section], cfg: Mapping[str, Any]) -> List[Section]:
    """Copies of ``sections`` with the config's Darknet keys written into [net] and [yolo].

    With ``cmbn=1``, ``batch_normalize=1`` becomes ``2`` in every [convolutional].
    """
    out = [copy.deepcopy(s) for s in sections]
    net = out[0]
    for key in NET_KEYS:
        if key == "label_smooth_eps":
            continue
        if cfg.get(key) is not None:
            value = cfg[key]
            if key not in net.options and DARKNET_DEFAULTS.get(key, object()) == value:
                continue  # keep the written cfg short: Darknet's default needs no line
            if key in LIST_KEYS:
                value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
            net.set(key, value)
    for s in out:
        if s.type == "yolo":
            for key in YOLO_KEYS:
                if cfg.get(key) is not None:
                    s.set(key, cfg[key])
        if int(cfg.get("cmbn", 0) or 0) and s.type == "convolutional":
            if s.options.get("batch_normalize", "0").strip() == "1":
                s.set("batch_normalize", 2)
    return out
