"""``yolov4 demo``: train a small YOLOv4 on the built-in synthetic dataset on CPU and show the results."""
from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo", help="generate a synthetic dataset, train a small YOLOv4 on CPU, show results",
        description="The whole pipeline in a few minutes on a CPU: generate the built-in shapes "
                    "dataset, train a small YOLOv4 (reduced width/depth), validate, and write "
                    "annotated predictions, plots and Darknet .cfg/.weights into --out.")
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long smoke run (tiny data and model; no useful accuracy)")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine.demo import run_demo

    overrides = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.device is not None:
        overrides["device"] = args.device
    run_demo(args.out, quick=args.quick, verbose=not args.quiet, **overrides)
    return 0
