"""``yolov4 classify train|val|predict``: Darknet classifiers (backbone pretraining).

Only parses arguments and calls :mod:`yolov4.engine.classify_api`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EPILOG = """\
data: a folder per class (DIR/train/<class>/*.jpg, DIR/val/<class>/*.jpg) or a Darknet
  classifier .data (train=, valid=, labels=; the class is the label name found in the path).
  --data builtin writes the built-in shape crops (1000 images, 64 px) to OUT/builtin_data.
models: cspdarknet53 (= csdarknet53-omega.cfg), cspdarknet53-tiny (the yolov4-tiny backbone),
  or a classifier .cfg ([avgpool] ... [softmax]).
bag of freebies (Darknet [net] keys, as key=value): label_smooth_eps=0.1 cutmix=1 mosaic=1
  mixup=1 min_crop= max_crop= angle= aspect= hue= saturation= exposure= flip= blur=;
  DropBlock: --dropblock (zoo cspdarknet53).
transfer: yolov4 partial OUT/model.cfg OUT/model.weights backbone.conv  (N defaults to the
  layers before [avgpool]), then yolov4 train --weights backbone.conv with the same
  --width-multiple/--depth-multiple.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("classify", help="train, validate or run a classifier",
                                   description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="classify_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("train", help="train a classifier (Darknet classifier train)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="class folders, a classifier .data, or 'builtin'")
    p.add_argument("--model", default="cspdarknet53-tiny")
    p.add_argument("--weights", help="starting weights (.weights, partial, or .pt)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int)
    length.add_argument("--max-batches", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--subdivisions", type=int)
    p.add_argument("--size", type=int, help="input width = height (multiple of 32)")
    p.add_argument("--width-multiple", type=float)
    p.add_argument("--depth-multiple", type=float)
    p.add_argument("--activation", help="zoo models: activation of every conv")
    p.add_argument("--dropblock", action="store_true", help="zoo cspdarknet53: DropBlock")
    p.add_argument("--hyp", metavar="FILE.yaml")
    p.add_argument("--out", default="runs/classify")
    p.add_argument("--resume", metavar="CKPT")
    p.add_argument("--device")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=_train)

    p = sub.add_parser("val", help="top-1, top-k, per-class accuracy, confusion matrix")
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True, help="the classifier .cfg (or zoo name)")
    p.add_argument("--weights", required=True, help=".weights or .pt")
    p.add_argument("--split", default="val")
    p.add_argument("--size", type=int)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--json", help="write the metrics (and the confusion matrix) here")
    p.add_argument("--plots", help="folder for confusion_matrix.png")
    p.add_argument("--device")
    p.set_defaults(func=_val)

    p = sub.add_parser("predict", help="top classes of images (Darknet classifier predict)")
    p.add_argument("source", help="image, folder or glob")
    p.add_argument("--model", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--names", help="class names file (default: names.txt beside the weights)")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--json", help="write the predictions here")
    p.set_defaults(func=_predict)


def _train(args: argparse.Namespace) -> int:
    from ..engine.classify_api import train
    from ..engine.config import parse_overrides
    from ..errors import YoloError

    overrides = parse_overrides(args.overrides)
    for key in ("epochs", "max_batches", "batch", "subdivisions", "size", "device"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    data = args.data
    if args.resume is None and not data:
        raise YoloError("classify train: --data is required (or --resume CKPT)")
    if data == "builtin":
        from ..data.classify_synth import generate_classes
        target = Path(args.out) / "builtin_data"
        if not (target / "val").is_dir():
            print(f"writing the built-in classification data to {target}")
            generate_classes(target)
        data = str(target)
    kwargs = {k: v for k, v in (("width_multiple", args.width_multiple),
                                ("depth_multiple", args.depth_multiple),
                                ("activation", args.activation)) if v is not None}
    if args.dropblock:
        kwargs["dropblock"] = True
    result = train(data=data, model=args.model, weights=args.weights, hyp=args.hyp,
                   out=args.out, resume=args.resume, model_kwargs=kwargs,
                   verbose=not args.quiet, **overrides)
    print(f"done: {result.iterations} iterations, {result.epochs} epochs")
    if result.metrics:
        m = result.metrics
        print(f"top-1 {m.get('top1', 0):.4f}  top-{int(m.get('k', 5))} {m.get('top5', 0):.4f}  "
              f"best top-1 {result.best_fitness:.4f}")
    print(f"checkpoints: {result.last}" + (f", {result.best}" if result.best else ""))
    print(f"Darknet files: {result.cfg} + {result.weights} (class names: "
          f"{result.out_dir / 'names.txt'})")
    return 0


def _val(args: argparse.Namespace) -> int:
    from ..engine.classify_api import val

    out = val(args.data, args.model, weights=args.weights, split=args.split, batch=args.batch,
              size=args.size, top=args.top, json=args.json, plots=args.plots,
              device=args.device)
    print(out["report"])
    return 0


def _predict(args: argparse.Namespace) -> int:
    from ..engine.classify_api import predict

    preds = predict(args.source, args.model, args.weights, names=args.names, top=args.top)
    for p in preds:
        shown = ", ".join(f"{(p.names[i] if p.names else c)} {v:.3f}"
                          for i, (c, v) in enumerate(zip(p.classes, p.probs)))
        print(f"{p.path}: {shown}")
    if args.json:
        Path(args.json).write_text(json.dumps([p.__dict__ for p in preds], indent=1))
    return 0
