"""The ``yolov4`` command line: one sub-command per module of this package.

Each sub-command module exposes ``register(subparsers)`` which adds its parser and sets
``func`` to a callable taking the parsed ``argparse.Namespace`` and returning an exit code.
The CLI only parses arguments and calls the Python API.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from ..errors import YoloError

# Sub-command modules, in the order `yolov4 --help` lists them.
COMMANDS = ("info", "detect", "val", "train", "classify", "demo", "export", "partial", "data",
            "anchors", "evolve", "ablate", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yolov4",
        description="YOLOv4 in PyTorch with Darknet parity.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:  # a sub-command not written yet
            if err.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv                  # the words as given (a launcher re-runs them per process)
    try:
        code = args.func(args)
    except YoloError as err:
        print(f"yolov4 {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if "torch.distributed" in sys.modules:   # a command run by torchrun joined its group
            from ..engine.distributed import teardown
            teardown()
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
