"""``yolov4 partial``: keep the first N layers of a weights file, like ``darknet partial``.

``yolov4 partial MODEL WEIGHTS OUT N`` writes layers ``0 .. N-1`` of ``WEIGHTS`` (read with
``MODEL``, a zoo name or ``.cfg``) to ``OUT`` with ``seen = 0``: how ``yolov4.conv.137`` is made
from ``yolov4.weights`` (N = 137) and ``yolov4-tiny.conv.29`` from ``yolov4-tiny.weights``. Train
from it with ``yolov4 train --weights OUT`` (a partial file is recognised; the layers after it
start from scratch).
"""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import YoloError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "partial", help="keep the first N layers of a .weights file (darknet partial)",
        description=__doc__.split("\n\n")[1])
    p.add_argument("model", help="model-zoo name or Darknet .cfg path")
    p.add_argument("weights", help="Darknet .weights to read")
    p.add_argument("out", help="partial .weights to write")
    p.add_argument("n", type=int, help="number of layers to keep (layers 0 .. N-1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine.starting import save_partial
    from ..predict import load_network

    net = load_network(args.model, args.weights)
    layers = len(net.layers)
    if not 1 <= args.n <= layers:
        raise YoloError(f"N must be between 1 and the model's {layers} layers, got {args.n}")
    path = save_partial(net, args.out, args.n)
    print(f"wrote layers 0..{args.n - 1} of {args.weights} to {path} "
          f"(train from it with --weights {path})")
    return 0
