"""Darknet ``[yolo]``: reshape the head conv's output and decode boxes as ``get_yolo_box``.

The conv before ``[yolo]`` yields ``Tensor[B, A·(5+C), H, W]``; mask slot n owns channels
``n·(5+C) … n·(5+C)+4+C`` laid out x, y, w, h, obj, cls0… (``entry_index``). Decode
(``src/yolo_layer.c: forward_yolo_layer, get_yolo_box``), s = ``scale_x_y``, i = column,
j = row, anchors (pixels) indexed by ``mask``, ``netw/neth`` = current input size:

- new_coords=0: ``tx' = σ(tx)·s − 0.5·(s−1)``; ``w = e^{tw}·aw/netw``; obj, cls = σ(·);
- new_coords=1: no activation here (the conv applies logistic): ``tx' = tx·s − 0.5·(s−1)``;
  ``w = 4·tw²·aw/netw``; obj, cls as they come;
- ``x = (i + tx')/W``, ``y = (j + ty')/H``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..darknet.cfg import Section
from ..darknet.yolo_settings import YoloSettings


class YoloLayer(nn.Module):
    """One detection head.

    Attributes:
        anchors: ``Tensor[num, 2]`` (w, h) in input pixels, all anchors of the section (buffer).
        mask: indices into ``anchors`` this head predicts (A = ``len(mask)``).
        classes: number of classes C.
        scale_x_y, new_coords: decode options.
        section: the ``[yolo]`` section it was built from (None when built in Python).
        settings: every ``[yolo]`` key (:class:`YoloSettings`; loss options ``iou_thresh``,
            ``ignore_thresh``, ...): read from ``section``, or Darknet's defaults around the
            arguments when there is none.
    """

    def __init__(self, anchors: Sequence[float], mask: List[int], classes: int,
                 scale_x_y: float = 1.0, new_coords: int = 0, section: Optional[Section] = None,
                 settings: Optional[YoloSettings] = None) -> None:
        super().__init__()
        table = torch.tensor(anchors, dtype=torch.float32).view(-1, 2)
        if settings is None:
            settings = (YoloSettings.from_section(section) if section is not None else
                        YoloSettings(classes=int(classes), num=table.shape[0], mask=tuple(mask),
                                     anchors=tuple(table.flatten().tolist()),
                                     scale_x_y=float(scale_x_y), new_coords=bool(new_coords)))
        self.settings = settings
        self.register_buffer("anchors", table, persistent=False)
        self.mask = list(mask)
        self.classes = classes
        self.scale_x_y = float(scale_x_y)
        self.new_coords = int(new_coords)
        self.section = section

    @classmethod
    def from_settings(cls, settings: YoloSettings, section: Optional[Section] = None
                      ) -> "YoloLayer":
        """The head a ``[yolo]`` section describes (``settings`` read from ``section``)."""
        return cls(list(settings.anchors), list(settings.mask), settings.classes,
                   settings.scale_x_y, int(settings.new_coords), section, settings)

    @property
    def num_anchors(self) -> int:
        """A, the anchors this head predicts (``len(mask)``)."""
        return len(self.mask)

    def reshape(self, x: Tensor) -> Tensor:
        """``Tensor[B, A·(5+C), H, W]`` -> raw ``Tensor[B, A, H, W, 5+C]`` (a view when possible)."""
        b, _, h, w = x.shape
        return x.view(b, self.num_anchors, self.classes + 5, h, w).permute(0, 1, 3, 4, 2)

    def decode(self, raw: Tensor, input_hw: Tuple[int, int]) -> Tensor:
        """Raw ``Tensor[B, A, H, W, 5+C]`` -> decoded ``Tensor[B, A, H, W, 5+C]``.

        Columns: cx, cy, w, h as fractions of the network input ``input_hw = (height, width)``,
        objectness, class probabilities (not multiplied by objectness). Differentiable.
        fp16/bf16 input is decoded in float32 (the result is float32).
        """
        if raw.dtype in (torch.float16, torch.bfloat16):
            raw = raw.float()  # half-precision coordinates would be off by pixels: decode in fp32
        neth, netw = input_hw
        anchors = self.anchors[self.mask].to(raw.dtype)  # [A, 2]
        scale = torch.tensor([1.0 / netw, 1.0 / neth], dtype=raw.dtype, device=raw.device)
        anchors = anchors.to(raw.device) * scale
        if not torch.is_grad_enabled() and not torch.jit.is_tracing() \
                and not torch.jit.is_scripting():
            return decode_cells_inplace(raw, anchors, self.scale_x_y, self.new_coords)
        return decode_cells(raw, anchors, self.scale_x_y, self.new_coords)

    def forward(self, x: Tensor, input_hw: Tuple[int, int], raw: bool = False) -> Tensor:
        """Train mode or ``raw``: raw ``Tensor[B, A, H, W, 5+C]``; else decoded (see
        :meth:`decode`)."""
        out = self.reshape(x)
        return out if self.training or raw else self.decode(out, input_hw)

    def extra_repr(self) -> str:
        return (f"mask={self.mask}, classes={self.classes}, scale_x_y={self.scale_x_y}, "
                f"new_coords={self.new_coords}")


def yolo_boxes(txy: Tensor, twh: Tensor, cell_x: Tensor, cell_y: Tensor,
               grid_wh: Tuple[int, int], anchors: Tensor, new_coords: int) -> Tensor:
    """Darknet's ``get_yolo_box``: the one box decode (graph, export and loss all call it).

    Args:
        txy: ``Tensor[..., 2]`` activated x, y offsets in the cell (``scale_x_y`` applied).
        twh: ``Tensor[..., 2]`` raw w, h outputs (``new_coords``: already activated).
        cell_x, cell_y: column i and row j of each prediction (broadcast against ``txy[..., 0]``).
        grid_wh: ``(W, H)`` of the layer's grid.
        anchors: ``Tensor[..., 2]`` anchor (w, h) as fractions of the network input
            (``aw/netw, ah/neth``), broadcast against ``twh``.

    Returns:
        ``Tensor[..., 4]`` cx, cy, w, h as fractions of the network input.
    """
    lw, lh = grid_wh
    x = (cell_x + txy[..., 0]) / lw
    y = (cell_y + txy[..., 1]) / lh
    wh = (4.0 * twh * twh if new_coords else torch.exp(twh)) * anchors
    return torch.stack((x, y, wh[..., 0], wh[..., 1]), -1)


def decode_cells(raw: Tensor, anchors: Tensor, scale_x_y: float, new_coords: int) -> Tensor:
    """Darknet's ``get_yolo_box`` on every cell: raw ``Tensor[B, A, H, W, 5+C]`` -> decoded.

    ``anchors``: ``Tensor[A, 2]`` (w, h) already as fractions of the network input
    (``aw/netw, ah/neth``), on ``raw``'s device and dtype. Returns ``Tensor[B, A, H, W, 5+C]``:
    cx, cy, w, h as fractions of the input, objectness, class probabilities. Shared by
    :meth:`YoloLayer.decode` and the export module (which passes traced input sizes).
    """
    _, _, h, w, _ = raw.shape
    s = scale_x_y
    txy, twh, rest = raw[..., 0:2], raw[..., 2:4], raw[..., 4:]
    if not new_coords:
        txy = txy.sigmoid()
        rest = rest.sigmoid()
    if s != 1.0:
        txy = txy * s - 0.5 * (s - 1.0)
    gx = torch.arange(w, device=raw.device, dtype=raw.dtype).view(1, 1, 1, w)
    gy = torch.arange(h, device=raw.device, dtype=raw.dtype).view(1, 1, h, 1)
    boxes = yolo_boxes(txy, twh, gx, gy, (w, h), anchors.view(1, -1, 1, 1, 2), new_coords)
    return torch.cat([boxes, rest], -1)


def decode_cells_inplace(raw: Tensor, anchors: Tensor, scale_x_y: float,
                         new_coords: int) -> Tensor:
    """:func:`decode_cells` for inference (no autograd, no tracing): the same operations in
    the same order (results within one float32 ulp: the vectorised sigmoid of a strided view
    may round differently), in six passes into one new contiguous tensor instead of a dozen
    (each a parallel region on the CPU). ``raw`` may be a strided view."""
    _, a, h, w, _ = raw.shape
    s = scale_x_y
    out = torch.empty(raw.shape, dtype=raw.dtype, device=raw.device)
    if new_coords:
        out.copy_(raw)
    else:
        torch.sigmoid(raw, out=out)
    xy = out[..., 0:2]
    if s != 1.0:
        xy.mul_(s).sub_(0.5 * (s - 1.0))
    grid = torch.stack(torch.meshgrid(torch.arange(w, device=raw.device, dtype=raw.dtype),
                                      torch.arange(h, device=raw.device, dtype=raw.dtype),
                                      indexing="xy"), -1)  # [H, W, 2]: (column, row)
    size = torch.tensor([w, h], device=raw.device, dtype=raw.dtype)
    xy.add_(grid).div_(size)
    wh = out[..., 2:4]
    if new_coords:
        wh.mul_(wh).mul_(4.0)
    else:
        torch.exp(raw[..., 2:4], out=wh)
    wh.mul_(anchors.view(1, a, 1, 1, 2))
    return out
