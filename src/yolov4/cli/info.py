"""``yolov4 info``: print a network's layer table, parameter count and BFLOPs like Darknet.

``yolov4 info MODEL_OR_CFG [--size N | --size W H] [--classes K]``: MODEL is a zoo name
(``yolov4.models.list_models()``) or a path to a Darknet ``.cfg``. Needs no other files.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import YoloError


def _zoo_names() -> List[str]:
    try:
        from .. import models
        return list(models.list_models())
    except (ImportError, AttributeError):  # the zoo is optional for this command
        return []


def load_sections(model: str, classes: Optional[int] = None,
                  size: Optional[Tuple[int, int]] = None):
    """Sections of a zoo model name or a ``.cfg`` path, with ``classes``/``size`` applied."""
    from ..darknet.cfg import read_cfg, set_classes

    path = Path(model)
    if path.is_file():
        sections = read_cfg(path)
    elif model in _zoo_names():
        from .. import models
        options = {}
        if classes is not None:
            options["classes"] = classes
        if size is not None:
            options["width"], options["height"] = size
        sections = models.build_sections(model, **options)
    else:
        known = ", ".join(_zoo_names()) or "none registered"
        raise YoloError(f"'{model}' is neither a .cfg file nor a zoo model (zoo: {known})")
    if classes is not None:
        set_classes(sections, classes)
    if size is not None:
        sections[0].set("width", size[0]).set("height", size[1])
    return sections


def run(args: argparse.Namespace) -> int:
    from ..darknet.summary import summarize

    size = None
    if args.size:
        if len(args.size) > 2:
            raise YoloError("--size takes N or W H")
        size = (args.size[0], args.size[-1])
        if min(size) <= 0:
            raise YoloError(f"--size must be positive, got {args.size}")
    if args.classes is not None and args.classes < 1:
        raise YoloError(f"--classes must be >= 1, got {args.classes}")
    sections = load_sections(args.model, args.classes, size)
    summary = summarize(sections)
    print(summary.text(), end="")
    print(f"Input {summary.width} x {summary.height} x {sections[0].get_int('channels', 3)}, "
          f"{len(sections) - 1} layers")
    print(f"Parameters: {summary.params:,} trainable; .weights file: "
          f"{summary.weights_floats:,} floats ({20 + 4 * summary.weights_floats:,} bytes)")
    print(f"Total BFLOPS {summary.bflops:.3f} at {summary.width}x{summary.height}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="print a network's layers, parameters and BFLOPs (like Darknet)",
        description="Print the layer table Darknet prints when it loads a network, then the "
                    "parameter count and total BFLOPs.")
    p.add_argument("model", metavar="MODEL_OR_CFG",
                   help="zoo model name (e.g. yolov4, yolov4-tiny) or path to a .cfg")
    p.add_argument("--size", type=int, nargs="+", metavar="N",
                   help="input size: N (square) or W H; default: the cfg's [net] size")
    p.add_argument("--classes", type=int, default=None, help="number of classes")
    p.set_defaults(func=run)
