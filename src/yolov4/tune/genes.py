"""The gene table of ``yolov4 evolve``: which hyperparameters are searched, their bounds and
mutation scale, read from the ``#   evolve: [min, max, gain(, kind)]`` comments of the packaged
``yolov4/engine/hyp.yaml`` (each declared right under its key).

``kind`` is ``float`` (default), ``int`` (rounded after mutation) or ``switch`` (a 0/1 value
that flips; ``gain`` scales the flip probability). :func:`base_values` gives each gene's value
in the run the search starts from (the model's cfg under the chosen recipe and overrides).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from ..errors import YoloError

KINDS = ("float", "int", "switch")
_KEY = re.compile(r"^([A-Za-z_]\w*)\s*:")
_DECL = re.compile(r"#\s*evolve:\s*(\[[^\]]*\])")

#: Values Darknet uses when neither the cfg nor the user sets a [yolo] key
#: (``src/parser.c: parse_yolo``; the same defaults as ``yolov4/loss/assign.py``).
YOLO_DEFAULTS: Dict[str, float] = {
    "scale_x_y": 1.0, "ignore_thresh": 0.5, "iou_thresh": 1.0, "iou_normalizer": 0.75,
    "obj_normalizer": 1.0, "cls_normalizer": 1.0, "label_smooth_eps": 0.0, "jitter": 0.2,
    "resize": 1.0,
}
#: Genes an optimiser ignores: left out of the search when the base run uses the other one.
SGD_ONLY = ("momentum",)
ADAM_ONLY = ("B1",)


@dataclass(frozen=True)
class Gene:
    """One searched hyperparameter: ``value`` stays in ``[low, high]``; ``gain`` scales its
    mutation (0 = fixed)."""

    name: str
    low: float
    high: float
    gain: float
    kind: str = "float"

    def clip(self, value: float) -> float:
        """``value`` clipped to the bounds (rounded for ``int``, 0/1 for ``switch``)."""
        v = min(max(float(value), self.low), self.high)
        if self.kind == "int":
            return float(int(round(v)))
        if self.kind == "switch":
            return 1.0 if v >= 0.5 else 0.0
        return float(f"{v:.6g}")

    def typed(self, value: float) -> Any:
        """``value`` as the type training expects (``int`` for int and switch genes)."""
        return int(round(value)) if self.kind in ("int", "switch") else float(value)


def _hyp_text() -> str:
    return resources.files("yolov4.engine").joinpath("hyp.yaml").read_text(encoding="utf-8")


def parse_gene_table(text: str, source: str = "hyp.yaml") -> Dict[str, Gene]:
    """Genes declared in a hyp.yaml text: an ``evolve: [...]`` comment belongs to the last
    top-level key above it (or on its line). Raises :class:`YoloError` naming ``source:line``."""
    genes: Dict[str, Gene] = {}
    key: Optional[str] = None
    for number, line in enumerate(text.splitlines(), 1):
        m = _KEY.match(line)
        if m:
            key = m.group(1)
        d = _DECL.search(line)
        if not d:
            continue
        where = f"{source}:{number}"
        if key is None or key.startswith("recipe_") or line[:1].isspace() and _KEY.match(
                line.lstrip()):
            raise YoloError(f"{where}: an evolve declaration must follow a top-level key")
        try:
            spec = yaml.safe_load(d.group(1))
        except yaml.YAMLError:
            spec = None
        if (not isinstance(spec, list) or len(spec) not in (3, 4)
                or not all(isinstance(v, (int, float)) for v in spec[:3])):
            raise YoloError(f"{where}: evolve for '{key}' must be [min, max, gain] or "
                            f"[min, max, gain, int|switch], got {d.group(1)}")
        low, high, gain = (float(v) for v in spec[:3])
        kind = str(spec[3]) if len(spec) == 4 else "float"
        if kind not in KINDS or not low < high or gain < 0:
            raise YoloError(f"{where}: evolve for '{key}': need min < max, gain >= 0 and kind "
                            f"in {', '.join(KINDS)}; got {d.group(1)}")
        if key in genes:
            raise YoloError(f"{where}: '{key}' has two evolve declarations")
        genes[key] = Gene(key, low, high, gain, kind)
    return genes


def gene_table(names: Optional[Sequence[str]] = None) -> Dict[str, Gene]:
    """The packaged gene table, restricted to ``names`` when given (unknown names raise,
    with the closest declared names)."""
    table = parse_gene_table(_hyp_text())
    if not names:
        return table
    unknown = [n for n in names if n not in table]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, list(table), n=2)
            hints.append(f"'{n}'" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise YoloError(f"unknown gene {', '.join(hints)}; genes declared in hyp.yaml: "
                        f"{', '.join(table)}")
    return {n: table[n] for n in names}


def parse_gene_names(text: Optional[str]) -> Optional[List[str]]:
    """``"learning_rate,mosaic"`` -> ``["learning_rate", "mosaic"]`` (``None``/empty -> None)."""
    if not text:
        return None
    return [t.strip() for t in str(text).split(",") if t.strip()]


def base_values(data: Any, model: Any, genes: Mapping[str, Gene], *,
                hyp: Any = None, overrides: Optional[Mapping[str, Any]] = None,
                model_kwargs: Optional[Mapping[str, Any]] = None
                ) -> Tuple[Dict[str, float], Dict[str, Gene]]:
    """Each gene's value in the run ``yolov4.train(data, model, hyp=hyp, **overrides)`` would do
    (the resolved config; [yolo] keys from the first [yolo] section, else Darknet's default),
    and the genes kept: genes the user fixed in ``overrides`` and the optimiser's unused ones
    (momentum with Adam, B1 with SGD) are left out."""
    from ..data.transforms.pipeline import AugmentConfig
    from ..engine.api import _datasets, model_sections
    from ..engine.config import apply_to_sections, resolve_config

    train_set, _ = _datasets(data)
    overrides = dict(overrides or {})
    if overrides.get("size") is not None:
        overrides["width"] = overrides["height"] = int(overrides.pop("size"))
    overrides.pop("size", None)
    sections = model_sections(model, len(train_set.names), **dict(model_kwargs or {}))
    cfg, _ = resolve_config(sections, hyp_file=hyp, overrides=overrides,
                            dataset_len=len(train_set))
    sections = apply_to_sections(sections, cfg)
    net = sections[0]
    yolo = next((s for s in sections if s.type == "yolo"), None)
    aug = AugmentConfig()
    unused = SGD_ONLY if int(cfg.get("adam") or 0) else ADAM_ONLY
    values: Dict[str, float] = {}
    kept: Dict[str, Gene] = {}
    for name, gene in genes.items():
        if name in overrides or name in unused:
            continue
        value = cfg.get(name)
        if value is None and net.has(name):
            value = net.get_float(name)
        if value is None and yolo is not None and yolo.has(name):
            value = yolo.get_floats(name)[0]
        if value is None:
            value = YOLO_DEFAULTS.get(name, getattr(aug, name, None))
        if value is None:
            raise YoloError(f"gene '{name}': no value in the config nor a known default")
        values[name] = float(value)
        kept[name] = gene
    return values, kept


__all__ = ["Gene", "gene_table", "parse_gene_table", "parse_gene_names", "base_values",
           "YOLO_DEFAULTS"]
