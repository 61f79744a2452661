"""The layer-type table: one :class:`LayerType` per Darknet section type.

Shape inference (:mod:`yolov4.darknet.shapes`), module construction (:mod:`.graph`), the
``.weights`` tensor order (:mod:`.weights`), the load-time summary (:mod:`.summary`) and the
cfg reader's list of known sections and aliases (:mod:`.cfg`) all read this table; a new
section type is one :class:`LayerType` (see :mod:`.base` for its callables) added to a module
here and to :data:`_MODULES`.

Pure Python: importing the table does not import torch.
"""
from __future__ import annotations

from typing import Dict

from ...errors import CfgError
from . import conv, heads, merge, resample
from .base import BuildOptions, LayerSpec, LayerType, Shape, Shaped

_MODULES = (conv, resample, merge, heads)

#: Canonical section name -> its entry.
LAYER_TYPES: Dict[str, LayerType] = {t.name: t for m in _MODULES for t in m.TYPES}
#: Darknet's short section names -> canonical names.
ALIASES: Dict[str, str] = {a: t.name for t in LAYER_TYPES.values() for a in t.aliases}


def layer_type(section: object) -> LayerType:
    """The entry of a section's type; CfgError naming file and line for an unknown type."""
    name = getattr(section, "type", section)
    entry = LAYER_TYPES.get(ALIASES.get(name, name))
    if entry is None:
        where = (f"{section.source}:{section.line}: " if hasattr(section, "source") else "")
        raise CfgError(f"{where}unknown layer type [{name}]")
    return entry


__all__ = ["ALIASES", "BuildOptions", "LAYER_TYPES", "LayerSpec", "LayerType", "Shape", "Shaped",
           "layer_type"]
