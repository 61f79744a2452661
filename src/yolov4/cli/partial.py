"""``yolov4 partial``: keep the first N layers of a weights file, like ``darknet partial``.

``yolov4 partial MODEL WEIGHTS OUT [N]`` writes layers ``0 .. N-1`` of ``WEIGHTS`` (read with
``MODEL``, a zoo name or ``.cfg``) to ``OUT`` with ``seen = 0``, and their cfg to ``OUT.cfg``:
how ``yolov4.conv.137`` is made from ``yolov4.weights`` (N = 137), ``yolov4-tiny.conv.29`` from
``yolov4-tiny.weights``, and a detector's backbone from a trained classifier (``yolov4 classify
train``: MODEL = the run's ``model.cfg``; without N, the layers before ``[avgpool]``: 105 for
``cspdarknet53``, 27 for ``cspdarknet53-tiny``). Train from it with ``yolov4 train --weights
OUT``: the layers are checked against the detector's one by one (``OUT.cfg``), the layers after
them start from scratch. Darknet and OpenCV read ``OUT`` with ``OUT.cfg``.
"""
from __future__ import annotations

import argparse
from typing import Any, Optional

from ..errors import YoloError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "partial", help="keep the first N layers of a .weights file (darknet partial)",
        description=__doc__.split("\n\n")[1])
    p.add_argument("model", help="model-zoo name or Darknet .cfg path")
    p.add_argument("weights", help="Darknet .weights to read")
    p.add_argument("out", help="partial .weights to write (its cfg goes to OUT.cfg)")
    p.add_argument("n", type=int, nargs="?", default=None,
                   help="number of layers to keep (layers 0 .. N-1); default for a classifier: "
                        "the layers before [avgpool]")
    p.set_defaults(func=run)


def cut(model: str, weights: str, out: str, n: Optional[int] = None):
    """Write the partial file (and ``out.cfg``); return ``(path, n, layers of the model)``."""
    from ..engine.starting import save_partial
    from ..models.classifier import backbone_layers
    from ..predict import load_network

    net = load_network(model, weights)
    layers = len(net.layers)
    if n is None:
        if not any(s.type == "avgpool" for s in net.sections):
            raise YoloError(f"{model}: give N (the model is not a classifier with [avgpool])")
        n = backbone_layers(net.sections)
    if not 1 <= n <= layers:
        raise YoloError(f"N must be between 1 and the model's {layers} layers, got {n}")
    return save_partial(net, out, n), n, layers


def run(args: argparse.Namespace) -> int:
    path, n, _ = cut(args.model, args.weights, args.out, args.n)
    print(f"wrote layers 0..{n - 1} of {args.weights} to {path} and their cfg to {path}.cfg "
          f"(train from it with --weights {path})")
    return 0
