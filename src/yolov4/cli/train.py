"""``yolov4 train``: train a model on a dataset with Darknet's optimisation and the bag of freebies."""
from __future__ import annotations

import argparse
from typing import Any, List

EPILOG = """\
hyperparameters:
  Every switch has its Darknet key name (yolov4/engine/hyp.yaml documents all of them). Give
  them as key=value after the options, e.g.
    yolov4 train --data data.yaml --model yolov4 ema_alpha=0.9998 adversarial_lr=0.05 \\
        policy=sgdr mosaic=1 iou_loss=ciou
  Precedence: hyp.yaml < the model's .cfg [net]/[yolo] < the default recipe < --hyp FILE
  < flags and key=value.
recipes:
  recipe=default (the default) replaces the cfg's training values by hyp.yaml's
  recipe_default block: Adam lr .001 with a linear warm-up and one cosine, objectness prior
  .01 on new heads, objectness deltas x.3, iou_thresh .213, milder crop jitter; made to
  converge on small datasets and short schedules. recipe=darknet trains with the cfg's values
  exactly as Darknet does. The first log line says what the recipe changed.
  Non-finite updates are skipped (recipe=darknet: zeroed, as Darknet); nan_patience=N in a
  row stop training. anchors=auto re-fits anchors that fit the data badly.
starting points:
  --weights yolov4.conv.137        a partial Darknet file (first N layers, auto-detected)
  --weights coco.weights           a whole file; with another class count the heads are
                                   re-initialised and named
  --weights W --partial N          load only layers 0..N-1 (like 'darknet partial')
memory:
  batch is split into --subdivisions mini-batches whose gradients are accumulated: the update
  is the same, memory per pass is batch/subdivisions images. Out of memory -> raise it.
several GPUs or processes (README "Multi-GPU"):
  --devices 0,1,2,3 runs one process per GPU through torchrun (NCCL); --devices cpu:2 two CPU
  processes (gloo). Or run torchrun yourself, also across machines:
    torchrun --nnodes 2 --node_rank 0 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \
        --nproc_per_node 8 -m yolov4 train --data data.yaml --batch 64 ...
  --batch stays the images per update over all processes (split over processes and
  subdivisions; it must be a multiple of subdivisions x processes); the update and the lr are
  those of one process with the same batch. sync_bn=1: batch-norm statistics over all GPUs.
outputs (--out DIR): last.pt, best.pt (resume with --resume DIR/last.pt), model.cfg +
  model.weights (Darknet format), iterations.csv, results.csv, plots/*.png.
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train", help="train a model (Darknet optimisation, bag of freebies)",
        description="Train a YOLO model on a dataset (YOLO data.yaml, Darknet .data, COCO, VOC) "
                    "with a recipe that converges on small data (or Darknet's own: recipe=darknet) "
                    "and every bag-of-freebies switch.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="dataset: data.yaml, .data, COCO json/dir or VOC dir")
    p.add_argument("--model", default="yolov4-tiny",
                   help="model-zoo name (yolov4, yolov4-tiny, yolov4-csp, ...) or a .cfg path")
    p.add_argument("--weights", help="starting weights: Darknet .weights (whole or partial) or .pt")
    p.add_argument("--partial", type=int, metavar="N", help="load only layers 0..N-1 of --weights")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="passes over the training split")
    length.add_argument("--max-batches", type=int, help="number of updates (Darknet max_batches)")
    p.add_argument("--batch", type=int, help="images per update (Darknet batch)")
    p.add_argument("--subdivisions", type=int, help="mini-batches per update (Darknet subdivisions)")
    p.add_argument("--size", type=int, help="network input width = height (multiple of 32)")
    p.add_argument("--width-multiple", type=float, help="zoo models: channel multiplier")
    p.add_argument("--depth-multiple", type=float, help="zoo models: block-count multiplier")
    p.add_argument("--hyp", metavar="FILE.yaml", help="hyperparameter file (keys of hyp.yaml)")
    p.add_argument("--out", default="runs/train", help="run directory (default runs/train)")
    p.add_argument("--resume", metavar="CKPT", help="continue a run exactly from its last.pt")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.add_argument("--devices", metavar="IDS",
                   help="train on several devices, one process each, through torchrun: CUDA "
                        "indices 0,1,2,3 or cpu:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="hyperparameters by Darknet key name (see hyp.yaml)")
    p.set_defaults(func=run)


def _without_devices(argv: List[str]) -> List[str]:
    """The command-line words minus ``--devices X`` / ``--devices=X``."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--devices":
            skip = True
        elif not word.startswith("--devices="):
            out.append(word)
    return out


def run(args: argparse.Namespace) -> int:
    from ..engine import distributed as dist
    from ..errors import YoloError

    if args.devices and not dist.launched_world().enabled:
        kind, n, ids = dist.parse_devices(args.devices)
        argv = _without_devices(list(args.argv))
        if kind == "cpu" and args.device is None:
            argv += ["--device", "cpu"]
        if n > 1:
            code = dist.launch(args.devices, argv)
            if code:
                raise YoloError(f"{n} training processes (torchrun) ended with exit code {code}; "
                                f"the failing rank and its error are printed above")
            return 0
        if kind == "cuda":
            args.device = f"cuda:{ids}"
    if dist.launched_world().enabled:
        # torchrun prints this rank's error in its summary (error file)
        from torch.distributed.elastic.multiprocessing.errors import record
        return record(_train)(args)
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    from ..engine.api import train
    from ..engine.config import parse_overrides
    from ..engine.distributed import current
    from ..errors import YoloError

    overrides = parse_overrides(args.overrides)
    flags = {"epochs": args.epochs, "max_batches": args.max_batches, "batch": args.batch,
             "subdivisions": args.subdivisions, "size": args.size, "device": args.device}
    for key, value in flags.items():
        if value is not None:
            overrides[key] = value
    if args.resume is None and not args.data:
        raise YoloError("train: --data is required (or --resume CKPT)")
    model_kwargs = {}
    if args.width_multiple is not None:
        model_kwargs["width_multiple"] = args.width_multiple
    if args.depth_multiple is not None:
        model_kwargs["depth_multiple"] = args.depth_multiple
    result = train(data=args.data, model=args.model, weights=args.weights, partial=args.partial,
                   hyp=args.hyp, out=args.out, resume=args.resume, model_kwargs=model_kwargs,
                   verbose=not args.quiet, **overrides)
    if not current().main:
        return 0
    print(f"done: {result.iterations} iterations, {result.epochs} epochs")
    if result.metrics:
        print(f"mAP@0.5 {result.metrics.get('darknet.mAP50', 0):.4f}  "
              f"AP@[.5:.95] {result.metrics.get('coco.AP', 0):.4f}  best mAP@0.5 "
              f"{result.best_fitness:.4f}")
    print(f"checkpoints: {result.last}" + (f", {result.best}" if result.best else ""))
    print(f"Darknet files: {result.cfg} + {result.weights}")
    return 0
