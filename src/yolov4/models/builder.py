"""Builder: appends Darknet sections and keeps [route]/[shortcut] layer references right.

A model builder writes a network as Darknet does, one section per layer, through a
:class:`Builder`. Every ``add`` returns the new layer's index (0-based, ``[net]`` not counted),
and references to earlier layers are passed as those indices. The builder writes them relative
(``layers=-1,-7``) unless wrapped in :class:`Abs` (``layers=85``), the way the official cfgs
spell them; so inserting a layer (SAM, DropBlock, another residual block) never breaks a route.

The builder also carries the graph-wide switches: channel and depth multipliers
(:meth:`Builder.ch`, :meth:`Builder.depth`), CmBN (``batch_normalize=2``) and DropBlock settings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

from ..darknet.cfg import Section, make_section
from ..errors import YoloError

#: Activations a builder may write into ``[convolutional]`` sections.
ACTIVATIONS = ("leaky", "mish", "swish", "relu", "logistic", "linear", "hard_mish", "elu",
               "relu6", "selu", "gelu", "tanh")


class ModelError(YoloError, ValueError):
    """A model name or builder option is unknown or out of range."""


@dataclass(frozen=True)
class Abs:
    """A layer reference written as an absolute index (``[route] layers=85``)."""

    index: int


Ref = Union[int, Abs]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``).

    Rounds half up and never drops more than 10 % below ``value`` (the usual rule for
    width-scaled networks): ``make_divisible(64 * 0.25) == 16``, ``make_divisible(20) == 24``.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class Builder:
    """Collects sections: ``[net]`` first, then layers, returning layer indices.

    Args:
        net: the ``[net]`` section.
        width_multiple: channel multiplier; :meth:`ch` rounds to multiples of 8.
        depth_multiple: multiplier of repeated blocks; :meth:`depth` keeps at least one.
        cmbn: write ``batch_normalize=2`` (Cross mini-Batch Normalization) instead of 1.
        dropblock: ``None`` for no DropBlock, else ``(probability, block_size)``; the model
            decides where :meth:`dropblock` is called, the builder writes it only when enabled.
    """

    def __init__(self, net: Section, *, width_multiple: float = 1.0, depth_multiple: float = 1.0,
                 cmbn: bool = False, dropblock: Optional[Sequence[float]] = None) -> None:
        if net.type != "net":
            raise ModelError(f"the first section must be [net], got [{net.type}]")
        if not width_multiple > 0 or not depth_multiple > 0:
            raise ModelError(f"width_multiple and depth_multiple must be > 0, got "
                             f"{width_multiple} and {depth_multiple}")
        self.sections: List[Section] = [net]
        #: output channels of every layer (index as the layers)
        self.channels: List[int] = []
        self.width_multiple = float(width_multiple)
        self.depth_multiple = float(depth_multiple)
        self.cmbn = bool(cmbn)
        self.dropblock_options = tuple(dropblock) if dropblock else None

    # -- indices --------------------------------------------------------------------------
    @property
    def last(self) -> int:
        """Index of the most recent layer (-1 before any layer)."""
        return len(self.sections) - 2

    def _ref(self, ref: Ref, here: int) -> int:
        """Value written for a reference from the layer at ``here``."""
        index = ref.index if isinstance(ref, Abs) else ref
        if not 0 <= index < here:
            raise ModelError(f"layer {here} refers to layer {index}, which does not precede it")
        return index if isinstance(ref, Abs) else index - here

    # -- scaling --------------------------------------------------------------------------
    def ch(self, channels: int) -> int:
        """Channels scaled by ``width_multiple`` (unchanged at 1.0, else a multiple of 8)."""
        if self.width_multiple == 1.0:
            return int(channels)
        return make_divisible(channels * self.width_multiple)

    def depth(self, repeats: int) -> int:
        """Number of repeated blocks scaled by ``depth_multiple`` (at least 1)."""
        if self.depth_multiple == 1.0:
            return int(repeats)
        return max(1, int(math.floor(repeats * self.depth_multiple + 0.5)))

    # -- layers ---------------------------------------------------------------------------
    def out_channels(self, index: Optional[int] = None) -> int:
        """Output channels of layer ``index`` (default: the last layer; the input before any)."""
        index = self.last if index is None else index
        if index < 0:
            return self.sections[0].get_int("channels", 3)
        return self.channels[index]

    def add(self, type_: str, **options: object) -> int:
        """Append ``[type_]`` with ``options`` (``None`` values skipped); return its index."""
        section = make_section(type_, **options)
        here = self.last + 1
        if type_ == "convolutional":
            channels = section.get_int("filters")
        elif type_ == "route":
            groups = section.get_int("groups", 1)
            channels = sum(self.out_channels(i if i >= 0 else here + i)
                           for i in section.get_ints("layers")) // groups
        else:  # shortcut, pooling, upsample, sam, dropout, yolo keep the previous layer's
            channels = self.out_channels()
        self.sections.append(section)
        self.channels.append(channels)
        return here

    def conv(self, filters: int, size: int = 1, stride: int = 1, activation: str = "leaky",
             bn: bool = True, groups: Optional[int] = None) -> int:
        """``[convolutional]`` with "same" padding (``pad=1``), BN unless ``bn=False``.

        ``filters`` are written as given: scale them with :meth:`ch` where the model wants.
        """
        if activation not in ACTIVATIONS:
            raise ModelError(f"unknown activation '{activation}' (known: {', '.join(ACTIVATIONS)})")
        return self.add("convolutional",
                        batch_normalize=(2 if self.cmbn else 1) if bn else None,
                        filters=int(filters), size=size, stride=stride, pad=1,
                        groups=groups, activation=activation)

    def route(self, *refs: Ref, groups: Optional[int] = None,
              group_id: Optional[int] = None) -> int:
        """``[route]`` concatenating ``refs`` along channels (optionally one group of each)."""
        if not refs:
            raise ModelError("[route] needs at least one layer")
        here = self.last + 1
        return self.add("route", layers=[self._ref(r, here) for r in refs],
                        groups=groups, group_id=group_id)

    def shortcut(self, ref: Ref, activation: str = "linear") -> int:
        """``[shortcut]``: the previous layer plus layer ``ref``."""
        return self.add("shortcut", **{"from": self._ref(ref, self.last + 1)},
                        activation=activation)

    def maxpool(self, size: int, stride: int) -> int:
        return self.add("maxpool", stride=stride, size=size)

    def upsample(self, stride: int = 2) -> int:
        return self.add("upsample", stride=stride)

    def sam(self, ref: Ref) -> int:
        """``[sam]``: the previous layer (attention map) times layer ``ref``, element-wise."""
        return self.add("sam", **{"from": self._ref(ref, self.last + 1)})

    def dropblock(self) -> int:
        """``[dropout] dropblock=1`` when DropBlock is on; otherwise nothing (returns ``last``)."""
        if self.dropblock_options is None:
            return self.last
        probability, size = self.dropblock_options
        return self.add("dropout", probability=float(probability), dropblock=1,
                        dropblock_size_abs=int(size))

    def yolo(self, **options: object) -> int:
        """``[yolo]`` with the given keys (in the given order)."""
        return self.add("yolo", **options)


#: Activations a model accepts for its backbone / neck (``activation=`` options).
MODEL_ACTIVATIONS = ("leaky", "mish", "swish", "relu", "hard_mish")


def check_choice(model: str, key: str, value: object, choices: Sequence[object]) -> None:
    """Raise :class:`ModelError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ModelError(f"model '{model}': {key}={value!r} is not one of "
                         f"{', '.join(map(str, choices))}")
