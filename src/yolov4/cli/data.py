"""``yolov4 data check|convert|synth|show``: dataset tools (they only call ``yolov4.data``)."""
from __future__ import annotations

import argparse
import sys

from ..errors import DataError


def _check(args: argparse.Namespace) -> int:
    from ..data.check import check_dataset
    from ..data.classes import is_classification_data

    if is_classification_data(args.data):     # class folders or a classifier .data
        from ..data.classify_check import check_classification
        report = check_classification(args.data, splits=args.splits, decode=not args.no_decode)
    else:
        report = check_dataset(args.data, splits=args.splits, decode=not args.no_decode)
    print(report.format_text())
    return 1 if report.fatal else 0


def _convert(args: argparse.Namespace) -> int:
    from ..data.convert import convert

    print(convert(args.data, args.to, args.out, splits=args.splits))
    return 0


def _synth(args: argparse.Namespace) -> int:
    import time

    from ..data.synth import generate

    start = time.perf_counter()
    if args.classify:
        from ..data.classify_synth import generate_classes
        root = generate_classes(args.out, images=args.images, classes=args.classes,
                                size=args.size if args.size != 256 else 64, seed=args.seed,
                                val_fraction=args.val_fraction or 0.2, clutter=args.clutter)
        print(f"wrote {args.images} classification crops to {root} in "
              f"{time.perf_counter() - start:.1f} s; train with yolov4 classify train --data {root}")
        return 0
    path = generate(args.out, images=args.images, classes=args.classes, size=args.size,
                    seed=args.seed, val_fraction=args.val_fraction, clutter=args.clutter)
    print(f"wrote {args.images} images to {path.parent} in {time.perf_counter() - start:.1f} s; "
          f"train with DATA={path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..data.formats import load_dataset

    try:
        from ..data.preview import save_grid
    except ImportError as err:
        raise DataError(f"'yolov4 data show' is not available yet: yolov4.data.preview "
                        f"cannot be imported ({err})") from None
    dataset = load_dataset(args.data, args.split)
    save_grid(dataset, args.out, augment=args.augment, n=args.n, seed=args.seed, size=args.size)
    print(f"wrote {args.out}", file=sys.stdout)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="check, convert, generate or look at a dataset",
                                   description="Dataset tools. DATA is a data.yaml, an obj.data, "
                                   "a COCO instances .json or directory, a VOC directory, or for "
                                   "classification a folder per class or a classifier .data.")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("check", help="counts per class, box sizes, every problem with file:line; "
                       "exit 1 when a problem would corrupt training")
    p.add_argument("data")
    p.add_argument("--splits", nargs="+", default=["train", "val"])
    p.add_argument("--no-decode", action="store_true",
                   help="read image headers only (faster; corrupt image data goes unnoticed)")
    p.set_defaults(func=_check)

    p = sub.add_parser("convert", help="write the dataset as yolo, coco or voc")
    p.add_argument("data")
    p.add_argument("--to", required=True, choices=("yolo", "coco", "voc"))
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--splits", nargs="+", default=["train", "val"])
    p.set_defaults(func=_convert)

    p = sub.add_parser("synth", help="generate the built-in synthetic shapes dataset")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--clutter", type=float, default=1.0,
                   help="background clutter: 0 = clean gradients, 1 = default, >1 harder")
    p.add_argument("--classify", action="store_true",
                   help="classification crops (a folder per class, 64 px unless --size)")
    p.set_defaults(func=_synth)

    p = sub.add_parser("show", help="save a grid of samples with boxes drawn")
    p.add_argument("data")
    p.add_argument("--out", required=True, help="output image (.png)")
    p.add_argument("--augment", action="store_true", help="show what training sees")
    p.add_argument("--split", default="train")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=416, help="tile size (network input size)")
    p.set_defaults(func=_show)
