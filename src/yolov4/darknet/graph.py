"""The Darknet layer graph: an ``nn.Module`` that executes any supported cfg.

``Darknet.from_cfg(path_or_sections)`` builds one module per layer (``self.layers[i]`` is
Darknet's layer i) and runs them in order, keeping only the outputs later layers refer to.

Forward, ``x: Tensor[B, channels, H, W]`` RGB in [0, 1], H and W multiples of ``net.stride``:

- eval: list (one per ``[yolo]``, cfg order) of decoded ``Tensor[B, A, H_k, W_k, 5+C]``
  (cx, cy, w, h as fractions of the input, objectness, class probabilities);
- train, or ``net(x, raw=True)``: the same list of **raw** tensors (conv output reshaped, no
  activation); decode with ``net.yolo_layers[k].decode(raw, (H, W))``;
- a cfg without ``[yolo]`` (classifier) returns ``[last layer output]``.

A ``[route]``/``[shortcut]`` that names a ``[yolo]`` layer receives that layer's input (Darknet
would pass the activated copy; no official cfg does this).

Each layer's module comes from the ``build`` of its entry in the layer-type table
(:mod:`yolov4.darknet.layer_types`), which also says how ``forward`` calls it.

Training hooks: ``net.begin_batch()`` before the first mini-batch of every batch (CmBN),
``net.set_iteration(iteration, max_batches=None)`` once per iteration (DropBlock ramp,
``stopbackward``).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..errors import YoloError
from ..layers.cmbn import CmBatchNorm2d
from ..layers.conv import ConvBNAct
from ..layers.dropout import DropBlock
from ..layers.yolo import YoloLayer
from .cfg import Section, read_cfg, set_classes, split_net, write_cfg  # noqa: F401
from .layer_types import LAYER_TYPES, BuildOptions
from .shapes import LayerSpec, infer_layers

CfgSource = Union[str, "os.PathLike[str]", Sequence[Section]]


class Darknet(nn.Module):
    """A Darknet network built from cfg sections (see the module docstring for forward).

    Attributes:
        sections: ``[net]`` first, then one section per layer (a private copy).
        layers: ``nn.ModuleList``, ``layers[i]`` is Darknet's layer i.
        specs: static per-layer description at the ``[net]`` size (:class:`LayerSpec`).
        seen: images seen in training (``.weights`` header); ``header``: (major, minor, revision).
        iteration: current training iteration (``set_iteration``).
    """

    def __init__(self, sections: Sequence[Section], bn_eps: float = 1e-5) -> None:
        super().__init__()
        net, _ = split_net(sections)
        self.sections: List[Section] = list(sections)
        self.bn_eps = bn_eps
        self.specs: List[LayerSpec] = infer_layers(self.sections)
        max_batches = net.get_int("max_batches", 0)
        options = BuildOptions(bn_eps, max_batches)
        self.layers = nn.ModuleList(LAYER_TYPES[sp.type].build(sp, options) for sp in self.specs)
        self._types = [sp.type for sp in self.specs]
        self._calls = [LAYER_TYPES[sp.type].call for sp in self.specs]
        referenced = {j for sp in self.specs for j in sp.sources}
        self._keep = [i in referenced for i in range(len(self.specs))]
        last_use: Dict[int, int] = {}
        for sp in self.specs:
            for j in sp.sources:
                last_use[j] = sp.index
        # after layer i runs, the saved outputs whose last reader is i are dropped (memory)
        self._release: List[List[int]] = [[] for _ in self.specs]
        for j, i in last_use.items():
            self._release[i].append(j)
        self._stops = [sp.section.get_int("stopbackward", 0) for sp in self.specs]
        self._yolo_index = [i for i, c in enumerate(self._calls) if c == "yolo"]
        self.stride = self._compute_stride()
        self.seen = 0
        self.header = (0, 2, 5)
        self.iteration = 0
        self.fused = False
        # inference only (yolov4.runtime.routes.plan_inplace_routes): layer -> (route, channel
        # offset, route channels) for outputs written straight into a slice of a route's
        # concatenation
        self.route_targets: Dict[int, Tuple[int, int, int]] = {}

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_cfg(cls, path_or_sections: CfgSource, *, classes: Optional[int] = None,
                 bn_eps: float = 1e-5) -> "Darknet":
        """Build from a ``.cfg`` path or a list of sections (copied; the caller's stay intact).

        Args:
            classes: if given, every ``[yolo]`` gets ``classes`` and its feeding conv
                ``filters = len(mask)·(5+classes)``.
            bn_eps: BN epsilon (Darknet 1e-5; OpenCV DNN uses 1e-6).
        """
        if isinstance(path_or_sections, (str, os.PathLike)):
            sections = read_cfg(path_or_sections)
        else:
            sections = copy.deepcopy(list(path_or_sections))
        if classes is not None:
            set_classes(sections, int(classes))
        return cls(sections, bn_eps=bn_eps)

    def _compute_stride(self) -> int:
        w, h = self.width, self.height
        stride = 1
        for sp in self.specs:
            if sp.type == "avgpool":
                break
            _, oh, ow = sp.out_shape
            if ow < w and ow > 0 and w % ow == 0:
                stride = max(stride, w // ow)
            if oh < h and oh > 0 and h % oh == 0:
                stride = max(stride, h // oh)
        return stride

    # -- [net] properties -----------------------------------------------------------------
    @property
    def net_section(self) -> Section:
        return self.sections[0]

    @property
    def width(self) -> int:
        return self.sections[0].get_int("width", 416)

    @property
    def height(self) -> int:
        return self.sections[0].get_int("height", 416)

    @property
    def channels(self) -> int:
        return self.sections[0].get_int("channels", 3)

    @property
    def yolo_layers(self) -> List[YoloLayer]:
        """The ``[yolo]`` modules in cfg order."""
        return [self.layers[i] for i in self._yolo_index]

    @property
    def yolo_indices(self) -> List[int]:
        """Layer indices of the ``[yolo]`` layers."""
        return list(self._yolo_index)

    # -- training hooks -------------------------------------------------------------------
    def begin_batch(self) -> None:
        """A new batch (= one optimizer step of ``subdivisions`` mini-batches) begins: reset CmBN."""
        for m in self.modules():
            if isinstance(m, CmBatchNorm2d):
                m.begin_batch()

    def set_iteration(self, iteration: int, max_batches: Optional[int] = None) -> None:
        """Tell the network the training iteration (DropBlock ramp, ``stopbackward``)."""
        self.iteration = int(iteration)
        for m in self.modules():
            if isinstance(m, DropBlock):
                m.iteration = int(iteration)
                if max_batches is not None:
                    m.max_batches = int(max_batches)

    # -- forward --------------------------------------------------------------------------
    def forward(self, x: Tensor, raw: bool = False) -> List[Tensor]:
        """``Tensor[B, C, H, W]`` -> list of per-``[yolo]`` tensors (see the module docstring);
        ``raw``: the heads' raw ``Tensor[B, A, H_k, W_k, 5+C]`` in eval mode too (export decodes
        them itself with traced sizes)."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise YoloError(f"input must be Tensor[B, {self.channels}, H, W], got "
                            f"{tuple(x.shape)}")
        input_hw = (int(x.shape[2]), int(x.shape[3]))
        if input_hw[0] % self.stride or input_hw[1] % self.stride:
            raise YoloError(f"input size {input_hw[1]}x{input_hw[0]} (WxH) is not a multiple of "
                            f"the network stride {self.stride}")
        saved: Dict[int, Tensor] = {}
        outputs: List[Tensor] = []
        calls, keep = self._calls, self._keep
        targets = self.route_targets if not self.training else {}
        buffers: Dict[int, Tensor] = {}  # route -> its concatenation, filled by its sources
        for i, layer in enumerate(self.layers):
            call = calls[i]
            if i in targets:  # a convolution that writes into its route's buffer
                r, offset, channels = targets[i]
                buf = buffers.get(r)
                if buf is None:
                    buf = buffers[r] = torch.empty(
                        (x.shape[0], channels, x.shape[2], x.shape[3]), dtype=x.dtype,
                        device=x.device, memory_format=torch.channels_last)
                x = layer(x, out=buf[:, offset:offset + layer.out_channels])
            elif call == "route" and i in buffers:
                x = buffers.pop(i)
                offset = 0
                for j in layer.sources:  # copy the parts no source wrote in place
                    part = saved[j]
                    if targets.get(j, (None,))[0] != i:
                        x[:, offset:offset + part.shape[1]].copy_(part)
                    offset += part.shape[1]
            elif call == "route":
                x = layer([saved[j] for j in layer.sources])
            elif call == "shortcut":
                x = layer(x, [saved[j] for j in layer.sources])
            elif call == "pair":
                x = layer(x, saved[layer.sources[0]])
            elif call == "yolo":
                outputs.append(layer(x, input_hw, raw))
            else:
                x = layer(x)
            stop = self._stops[i]
            if stop and self.training and (stop == 1 or stop > self.iteration):
                x = x.detach()
                saved = {k: v.detach() for k, v in saved.items()}
            for j in self._release[i]:
                del saved[j]
            if keep[i]:
                saved[i] = x
        return outputs if self._yolo_index else [x]

    def summary(self, width: Optional[int] = None, height: Optional[int] = None):
        """Darknet's load-time layer table, parameters and BFLOPs (:class:`Summary`)."""
        from .summary import summarize
        return summarize(self.sections, width, height)

    # -- files ----------------------------------------------------------------------------
    def load_weights(self, path: Union[str, "os.PathLike[str]"], upto: Optional[int] = None) -> None:
        """Load a Darknet ``.weights`` file (layers ``[0, upto)`` if given); sets ``seen``."""
        from .weights import load_weights
        load_weights(self, path, upto=upto)

    def save_weights(self, path: Union[str, "os.PathLike[str]"], upto: Optional[int] = None) -> None:
        """Write a Darknet ``.weights`` file (header 0.2.5, ``seen``; layers ``[0, upto)``)."""
        from .weights import save_weights
        save_weights(self, path, upto=upto)

    def save_cfg(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the sections as a Darknet ``.cfg`` (with any ``classes`` rewrite applied)."""
        write_cfg(self.sections, Path(path))

    @torch.no_grad()
    def fuse(self) -> "Darknet":
        """Fold every BatchNorm into its conv (float64, like ``fuse_conv_batchnorm``). Returns self."""
        for m in self.modules():
            if isinstance(m, ConvBNAct):
                m.fuse()
        self.fused = True
        return self
