"""``yolov4 val``: COCO and Darknet metrics of a model (or of saved COCO results) on a split."""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import YoloError

DEFAULTS_NOTE = """\
defaults and Darknet:
  --conf 0.001 --iou 0.6 are the thresholds of 'darknet detector valid' (the COCO-JSON path)
  and what COCO mAP needs (a low score threshold). 'darknet detector map' keeps detections
  above .005 with NMS .45; use --conf 0.005 --iou 0.45 to feed the Darknet family exactly what
  'detector map' sees. Darknet-family metrics: mAP at IoU --map-iou 0.5 (-iou_thresh), all-point
  AP (--points 0, as -points 0; 11 = VOC2007, 101 = COCO-style), precision/recall/F1/average
  IoU at --map-conf 0.25 (-thresh). Classes without ground truth count as AP 0 in Darknet's
  mean and are left out of COCO's (pycocotools semantics, -1 per class).
--preds FILE: evaluate saved COCO results [{image_id | file_name, category_id, bbox, score}]:
  image by image_id (COCO datasets) or file_name (any dataset), class by the dataset's
  category id (COCO) or 0-based class index (YOLO, Darknet, VOC), as 'yolov4 detect
  --save-json' writes them.
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "val", help="evaluate a model or saved detections: COCO and Darknet mAP",
        description="Evaluate on a dataset split: COCO AP (identical to pycocotools) and "
                    "Darknet 'detector map' metrics side by side, per-class rows and speed.",
        epilog=DEFAULTS_NOTE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True,
                   help="dataset: YOLO data.yaml, Darknet .data, COCO json/dir or VOC dir")
    p.add_argument("--model", help="model-zoo name or Darknet .cfg path (not with --preds)")
    p.add_argument("--weights", help="Darknet .weights (or .pt state dict)")
    p.add_argument("--preds", metavar="PREDS.json",
                   help="evaluate these saved COCO results instead of running a model")
    p.add_argument("--size", type=int, nargs="+", metavar="N",
                   help="input size: N, or W H (default: the cfg's [net] width/height)")
    p.add_argument("--conf", type=float, default=0.001,
                   help="score threshold of kept detections (default 0.001, detector valid)")
    p.add_argument("--iou", type=float, default=0.6,
                   help="NMS IoU threshold (default 0.6, detector valid; detector map: 0.45)")
    p.add_argument("--nms", choices=("greedy", "diou", "soft-linear", "soft-gaussian"),
                   help="NMS kind (default: the cfg's last [yolo] nms_kind)")
    p.add_argument("--letterbox", action=argparse.BooleanOptionalAction, default=None,
                   help="letterbox input (default: the cfg's letter_box)")
    p.add_argument("--max-det", type=int, default=300,
                   help="detections kept per image after NMS (default 300; 0 = all, as "
                        "Darknet's map; COCO counts the best 100 per image and class)")
    p.add_argument("--split", default="val", choices=("val", "train", "test"),
                   help="dataset split (default val)")
    p.add_argument("--map-iou", type=float, default=0.5,
                   help="IoU threshold of the Darknet family (default 0.5)")
    p.add_argument("--map-conf", type=float, default=0.25,
                   help="score threshold of Darknet's P/R/F1/avg IoU (default 0.25)")
    p.add_argument("--points", type=int, default=0,
                   help="Darknet AP interpolation: 0 all-point (default), 11, 101")
    p.add_argument("--json", metavar="FILE",
                   help="write the metrics: flat JSON with stable keys, fractions in [0, 1]")
    p.add_argument("--save-preds", metavar="FILE", help="write the detections as COCO results")
    p.add_argument("--plots", metavar="DIR",
                   help="write PR_curve.png, F1_curve.png, confusion_matrix.png here")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--backend", default="auto",
                   choices=("auto", "faster_coco_eval", "pycocotools"),
                   help="COCO library (auto: faster-coco-eval if installed; identical numbers)")
    p.add_argument("--engine", choices=("torch", "openvino"), default="torch",
                   help="inference engine (as yolov4 detect): torch, or OpenVINO on the CPU "
                        "(optional package 'openvino')")
    p.add_argument("--bf16", action="store_true",
                   help="with --engine openvino: bfloat16 inference (AVX512-BF16/AMX CPUs)")
    p.add_argument("--calibration", metavar="IMAGES",
                   help="with --engine openvino: int8 quantisation calibrated on these images")
    p.add_argument("--all-classes", action="store_true",
                   help="list every class, also those without labels or detections")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.val import val_run

    if args.preds is None and args.model is None:
        raise YoloError("give --model (and --weights) or --preds")
    if args.preds is not None and args.model is not None:
        raise YoloError("--preds evaluates saved results; do not also give --model")
    if args.points not in (0,) and args.points < 2:
        raise YoloError("--points must be 0 or >= 2 (11, 101)")
    size = None
    if args.size:
        if len(args.size) > 2:
            raise YoloError("--size takes N or W H")
        size = args.size[0] if len(args.size) == 1 else tuple(args.size)
    val_run(args.data, args.model, args.weights, size=size, conf=args.conf, iou=args.iou,
            nms=args.nms, split=args.split, json=args.json, save_preds=args.save_preds,
            plots=args.plots, preds=args.preds, batch_size=args.batch_size, device=args.device,
            letterbox=args.letterbox, map_iou=args.map_iou, map_conf=args.map_conf,
            points=args.points, backend=args.backend, verbose=True,
            progress=not args.quiet, all_classes=args.all_classes,
            max_det=args.max_det if args.max_det > 0 else None, engine=args.engine,
            bf16=args.bf16, calibration=args.calibration)
    return 0
