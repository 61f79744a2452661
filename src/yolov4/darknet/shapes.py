"""Static shape inference over cfg sections: per-layer sources, output shapes, weight counts, BFLOPs.

Pure Python (no tensors): the layer graph builds its modules from this, the weights reader
checks file sizes with it, and ``yolov4 info`` prints it. Each section type's rules (Darknet's
``src/parser.c`` ``parse_*`` functions and ``make_*_layer`` size formulas; DARKNET_SEMANTICS.md
§1) are the ``shape`` of its entry in the layer-type table (:mod:`yolov4.darknet.layer_types`);
this module walks the layers in order.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from .cfg import Section, split_net
from .layer_types import LayerSpec, Shape, layer_type
from .layer_types.merge import SHORTCUT_NORMALIZATION, SHORTCUT_WEIGHTS  # noqa: F401

__all__ = ["LayerSpec", "Shape", "count_weights", "infer_layers"]


def infer_layers(sections: Sequence[Section], width: Optional[int] = None,
                 height: Optional[int] = None, channels: Optional[int] = None) -> List[LayerSpec]:
    """Per-layer static description of a cfg at input size ``width x height``.

    Args:
        sections: ``[net]`` first, then the layers.
        width, height, channels: input size; default to the ``[net]`` values.

    Raises:
        CfgError: naming file and line for bad indices, mismatched shapes or bad values.
    """
    net, layers = split_net(sections)
    w = width if width is not None else net.get_int("width", 416)
    h = height if height is not None else net.get_int("height", 416)
    c = channels if channels is not None else net.get_int("channels", 3)
    if w <= 0 or h <= 0 or c <= 0:
        raise net.error(f"input size must be positive, got {w}x{h}x{c}")
    specs: List[LayerSpec] = []
    prev: Shape = (c, h, w)
    for i, s in enumerate(layers):
        entry = layer_type(s)
        r = entry.shape(s, i, prev, specs)
        trainable = r.weights if r.trainable < 0 else r.trainable
        specs.append(LayerSpec(i, entry.name, s, list(r.sources), prev, r.out, r.weights, r.bflops,
                               dict(r.params), trainable))
        prev = r.out
    return specs


def count_weights(sections: Sequence[Section], upto: Optional[int] = None) -> int:
    """Number of float32 values a ``.weights`` file holds for these sections (layers ``[0, upto)``).

    Shape inference runs at the ``[net]`` size; the count does not depend on it.
    """
    specs = infer_layers(sections)
    return sum(sp.weights for sp in specs[:upto])
