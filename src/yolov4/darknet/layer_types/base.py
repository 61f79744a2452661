"""What a layer-type entry is: :class:`LayerType`, the static :class:`LayerSpec` and helpers.

Every Darknet section type is one :class:`LayerType` (in :mod:`yolov4.darknet.layer_types`)
with four callables:

- ``shape(section, index, in_shape, specs) -> Shaped``: output ``(c, h, w)``, extra input
  layers, ``.weights`` float count, BFLOPs and typed parameters (Darknet's ``parse_*`` and
  ``make_*_layer`` size rules); ``specs`` are the earlier layers' :class:`LayerSpec`;
- ``build(spec, options) -> nn.Module``: the module executing the layer;
- ``tensors(module, spec) -> [Tensor]``: the tensors the layer stores in a ``.weights`` file, in
  file order (none for most types);
- ``summary(spec) -> [str]``: the row(s) Darknet prints when it loads the network.

``call`` names how the graph calls the module: ``"x"`` (``m(x)``), ``"route"`` (``m([saved])``),
``"shortcut"`` (``m(x, [saved])``), ``"pair"`` (``m(x, saved[from])``) or ``"yolo"``
(``m(x, input_hw, raw)``, collected as an output). Pure Python: builders import torch modules
when called, so shape inference and summaries never load torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, List, NamedTuple, Sequence, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from ..cfg import Section

Shape = Tuple[int, int, int]  # (channels, height, width)
CALLS = ("x", "route", "shortcut", "pair", "yolo")


@dataclass
class LayerSpec:
    """What one layer is, statically.

    Attributes:
        index: 0-based layer index (``[net]`` not counted), as Darknet numbers layers.
        type: canonical section type.
        section: the cfg section.
        sources: absolute indices of the extra inputs (route ``layers``, shortcut/sam/
            scale_channels ``from``); the previous layer is implied for all but route.
        in_shape: the previous layer's (or the network input's) ``(c, h, w)``.
        out_shape: this layer's output ``(c, h, w)``.
        weights: number of float32 values this layer holds in a ``.weights`` file.
        bflops: Darknet's billions of floating point operations for one image.
        params: extra typed parameters used by the graph (kernel size, stride, ...).
        trainable: how many of ``weights`` are trainable parameters (BN rolling mean and
            variance are not).
    """

    index: int
    type: str
    section: "Section"
    sources: List[int]
    in_shape: Shape
    out_shape: Shape
    weights: int = 0
    bflops: float = 0.0
    params: dict = field(default_factory=dict)
    trainable: int = 0


class Shaped(NamedTuple):
    """What a ``shape`` callable returns (see the module docstring)."""

    out: Shape
    sources: List[int] = []
    weights: int = 0
    bflops: float = 0.0
    params: dict = {}
    trainable: int = -1  # -1: all of ``weights``


class BuildOptions(NamedTuple):
    """Network-wide values module construction needs: BN epsilon, ``[net] max_batches``."""

    bn_eps: float = 1e-5
    max_batches: int = 0


def no_tensors(module: Any, spec: LayerSpec) -> List[Any]:
    """``tensors`` of a layer type that stores nothing in ``.weights``."""
    return []


@dataclass(frozen=True)
class LayerType:
    """One Darknet section type (see the module docstring for the callables)."""

    name: str
    shape: Callable[["Section", int, Shape, Sequence[LayerSpec]], Shaped]
    build: Callable[[LayerSpec, BuildOptions], Any]
    summary: Callable[[LayerSpec], List[str]]
    tensors: Callable[[Any, LayerSpec], List[Any]] = no_tensors
    call: str = "x"
    aliases: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.call not in CALLS:
            raise ValueError(f"layer type [{self.name}]: call '{self.call}' is not one of {CALLS}")


def resolve(section: "Section", key: str, index: int, values: Sequence[int]) -> List[int]:
    """Relative (negative) or absolute layer indices of ``key`` as absolute earlier layers."""
    out = []
    for v in values:
        absolute = index + v if v < 0 else v
        if not 0 <= absolute < index:
            raise section.error(f"key '{key}': layer {v} resolves to {absolute}, which is not an "
                                f"earlier layer (this is layer {index})", key)
        out.append(absolute)
    return out


def positive(section: "Section", key: str, value: int, minimum: int = 1) -> int:
    """``value`` if ``>= minimum``, else a CfgError naming the key's line."""
    if value < minimum:
        raise section.error(f"key '{key}': must be >= {minimum}, got {value}", key)
    return value


def io_text(spec: LayerSpec) -> str:
    """``"  w x  h x  c ->   w x  h x  c"`` of Darknet's conv/max/upsample/reorg rows."""
    c, h, w = spec.in_shape
    oc, oh, ow = spec.out_shape
    return f"{w:4d} x{h:4d} x{c:4d} -> {ow:4d} x{oh:4d} x{oc:4d}"
