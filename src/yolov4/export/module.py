"""The traceable inference module that ONNX and TorchScript export: forward, decode, optional NMS.

``ExportModule(net)`` maps ``Tensor[B, 3, H, W]`` (RGB, [0, 1]) to ``predictions: Tensor[B, N,
5 + C]`` — every [yolo] output flattened in Darknet's order (layer, row-major cell, anchor) with
``cx, cy, w, h`` as fractions of the input, objectness and class probabilities, i.e.
``yolov4.postprocess.flatten_outputs(net(x))``. The decode is redone here from the raw head
outputs with the input size read from the traced tensor, so exported graphs stay correct when
the input size is dynamic (the graph's own decode bakes the size in as a Python number).

``with_nms=True`` appends Darknet's score rule and per-class greedy NMS (ONNX
``NonMaxSuppression``, the classic IoU test) and returns ``detections: Tensor[K, 7]`` rows
``(batch_index, x1, y1, x2, y2, score, class_id)`` with boxes in **input pixels** (mapping back
to the original image depends on the pre-processing; see ``ImageTransform.to_image``).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, List, Sequence

import torch
from torch import Tensor, nn

from ..layers.activations import Activation
from ..layers.yolo import decode_cells
from ..ops.nms import hard_nms


#: How Mish is written into an exported graph (see :func:`mish_form`).
MISH_FORMS = ("exp", "softplus")


def exp_mish(x: Tensor) -> Tensor:
    """Mish ``x · tanh(softplus(x))`` as ``x · n / (n + 2)`` with ``n = eˣ(eˣ + 2)``.

    Exact algebra: ``tanh(log(1 + eˣ)) = ((1 + eˣ)² − 1) / ((1 + eˣ)² + 1)``. The exponent is
    clamped at 20 (``n / (n + 2)`` is 1 in float32 beyond it, and ``e⁴⁰`` stays finite), so the
    graph is Clip, Exp, Add, Mul, Add, Div, Mul: ONNX Runtime runs it 5-6x faster than
    Softplus -> Tanh -> Mul on a ``[1, 64, 208, 208]`` tensor (2.5-3.4 vs 16.3 ms, 2 threads;
    ``benchmarks/onnx_mish.py``).
    """
    e = torch.exp(torch.clamp(x, max=20.0))
    n = e * (e + 2.0)
    return x * (n / (n + 2.0))


@contextlib.contextmanager
def mish_form(net: nn.Module, form: str) -> Iterator[None]:
    """While tracing, write every Darknet ``mish`` activation of ``net`` in ``form``:
    ``"exp"`` (:func:`exp_mish`, fast in ONNX Runtime) or ``"softplus"`` (Softplus -> Tanh
    -> Mul, the standard pattern that runtimes with a Mish kernel match; OpenVINO fuses it)."""
    if form not in MISH_FORMS:
        raise ValueError(f"mish form must be one of {MISH_FORMS}, got '{form}'")
    swapped = []
    if form == "exp":
        for m in net.modules():
            if isinstance(m, Activation) and m.name == "mish":
                swapped.append((m, m._fn))
                m._fn = exp_mish
    try:
        yield
    finally:
        for m, fn in swapped:
            m._fn = fn


def _decode(raw: Tensor, layer: nn.Module, in_h: Tensor, in_w: Tensor) -> Tensor:
    """Raw ``Tensor[B, A, H, W, 5+C]`` -> decoded rows ``Tensor[B, H*W*A, 5+C]`` (Darknet order).

    The anchors are divided by the traced input size (0-dim tensors), not a Python number, so
    the exported graph follows a dynamic input size.
    """
    b, _, _, _, n = raw.shape
    anchors = layer.anchors[layer.mask].to(device=raw.device, dtype=raw.dtype)  # [A, 2] px
    size = torch.stack([in_w, in_h]).to(raw.dtype)
    out = decode_cells(raw, anchors / size, float(layer.scale_x_y), layer.new_coords)
    return out.permute(0, 2, 3, 1, 4).reshape(b, -1, n)


class _BatchedNms(torch.autograd.Function):
    """Per-class greedy NMS; exported as ONNX ``NonMaxSuppression`` (corner boxes)."""

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_per_class: Tensor, iou: Tensor,
                score_threshold: Tensor) -> Tensor:  # type: ignore[override]
        """boxes ``[B, N, 4]`` xyxy; scores ``[B, C, N]`` -> ``[K, 3]`` (batch, class, box)."""
        rows: List[Tensor] = []
        k = int(max_per_class)
        for bi in range(boxes.shape[0]):
            c, n = torch.nonzero(scores[bi] > float(score_threshold), as_tuple=True)
            if n.numel() == 0:
                continue
            s = scores[bi, c, n]
            keep = hard_nms(boxes[bi, n], s, float(iou), c)
            kc, kn = c[keep], n[keep]
            order = torch.argsort(kc, stable=True)  # by class, score order within a class
            kc, kn = kc[order], kn[order]
            if k > 0:
                rank = torch.arange(kc.numel(), device=kc.device)
                first = torch.searchsorted(kc, kc, right=False)
                sel = (rank - first) < k
                kc, kn = kc[sel], kn[sel]
            rows.append(torch.stack([torch.full_like(kc, bi), kc, kn], 1))
        if not rows:
            return torch.zeros(0, 3, dtype=torch.int64, device=boxes.device)
        return torch.cat(rows)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou, score_threshold):  # pragma: no cover
        return g.op("NonMaxSuppression", boxes, scores, max_per_class, iou, score_threshold,
                    center_point_box_i=0)


class ExportModule(nn.Module):
    """``net`` (a ``Darknet``) with decode and optional NMS, for tracing.

    Args:
        net: the network (put in eval mode here; fuse it before for speed).
        with_nms: append score filtering and per-class NMS (see the module docstring).
        conf, iou, max_det: NMS settings baked into the graph (``max_det`` is per class).
    """

    def __init__(self, net: nn.Module, with_nms: bool = False, conf: float = 0.25,
                 iou: float = 0.45, max_det: int = 300) -> None:
        super().__init__()
        self.net = net.eval()
        self.with_nms = with_nms
        self.conf, self.iou, self.max_det = float(conf), float(iou), int(max_det)
        self.yolo: Sequence[nn.Module] = list(net.yolo_layers)
        self.train(False)

    def train(self, mode: bool = True) -> "ExportModule":  # inference only
        super().train(False)
        return self

    def forward(self, x: Tensor) -> Tensor:
        # while tracing, shape entries are 0-dim tensors, so the size stays symbolic
        in_h, in_w = torch.as_tensor(x.shape[2]), torch.as_tensor(x.shape[3])
        raws = self.net(x, raw=True)  # raw heads; decoded below with traced sizes
        pred = torch.cat([_decode(r, lyr, in_h, in_w) for r, lyr in zip(raws, self.yolo)], 1)
        if not self.with_nms:
            return pred
        size = torch.stack([in_w, in_h, in_w, in_h]).to(pred.dtype)
        cxcy, wh = pred[..., 0:2], pred[..., 2:4]
        boxes = torch.cat([cxcy - wh / 2, cxcy + wh / 2], -1) * size  # [B, N, 4] input px
        obj = pred[..., 4:5]
        scores = obj * pred[..., 5:] * (obj > self.conf).to(pred.dtype)  # Darknet's two tests
        sel = _BatchedNms.apply(boxes, scores.transpose(1, 2).contiguous(),
                                torch.tensor([self.max_det], dtype=torch.int64),
                                torch.tensor([self.iou], dtype=torch.float32),
                                torch.tensor([self.conf], dtype=torch.float32))
        b, c, n = sel[:, 0], sel[:, 1], sel[:, 2]
        out_boxes = boxes[b, n]
        out_scores = scores[b, n, c]
        return torch.cat([b.unsqueeze(1).to(pred.dtype), out_boxes, out_scores.unsqueeze(1),
                          c.unsqueeze(1).to(pred.dtype)], 1)
