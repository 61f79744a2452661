"""``yolov4 export``: write a model as ONNX, TorchScript or Darknet .cfg + .weights."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..errors import YoloError

FORMATS = ("onnx", "torchscript", "darknet", "openvino")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "darknet": "", "openvino": ".xml"}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export", help="export a model to ONNX, TorchScript, Darknet or OpenVINO IR",
        description="Export a model (zoo name or .cfg, with --weights). ONNX/TorchScript take "
                    "float32[B,3,H,W] RGB in [0,1] and return predictions[B,N,5+C] (cx,cy,w,h "
                    "as input fractions, objectness, class probabilities), or with --with-nms "
                    "detections[K,7] = (batch, x1, y1, x2, y2 input pixels, score, class). "
                    "OpenVINO IR (.xml + .bin, fp32 weights) has the ONNX graph's inputs and "
                    "outputs.")
    p.add_argument("--model", required=True, help="model-zoo name or Darknet .cfg path")
    p.add_argument("--weights", help="Darknet .weights (or .pt state dict)")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="output format")
    p.add_argument("--size", type=int, nargs="+", metavar="N",
                   help="input size N or W H (default: the cfg's [net] width/height)")
    p.add_argument("--out", help="output path (default: next to the weights/cfg)")
    p.add_argument("--dynamic", action="store_true",
                   help="ONNX/OpenVINO: dynamic input height/width (batch is always dynamic)")
    p.add_argument("--with-nms", action="store_true",
                   help="ONNX/OpenVINO: include Darknet's score filter and per-class greedy NMS")
    p.add_argument("--conf", type=float, default=0.25, help="--with-nms score threshold")
    p.add_argument("--iou", type=float, default=0.45, help="--with-nms IoU threshold")
    p.add_argument("--max-det", type=int, default=300, help="--with-nms boxes per class")
    p.add_argument("--mish", choices=("exp", "softplus"), default="exp",
                   help="ONNX: how Mish is written: exp (Clip/Exp/arithmetic, 5-6x faster in ONNX "
                        "Runtime) or softplus (Softplus-Tanh-Mul, the standard pattern that "
                        "runtimes with a Mish kernel match; OpenVINO fuses it)")
    p.add_argument("--classes", type=int, help="override the number of classes")
    p.add_argument("--calibration", metavar="IMAGES",
                   help="OpenVINO: int8 weights and activations (optional package 'nncf'), "
                        "calibrated on these images (file, directory or glob), pre-processed "
                        "as Darknet does (resize, or letterbox when the cfg sets letter_box)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..predict import load_network

    if args.calibration and args.format != "openvino":
        raise YoloError("--calibration (int8) is available for --format openvino only")
    if args.format == "openvino":
        from ..runtime.openvino import require_openvino

        require_openvino()  # before any work: a missing package is a one-line error
    net = load_network(args.model, args.weights, args.classes).eval()
    if args.size:
        if len(args.size) > 2:
            raise YoloError("--size takes N or W H")
        w, h = (args.size[0], args.size[0]) if len(args.size) == 1 else args.size
    else:
        w, h = net.width, net.height
    stride = int(getattr(net, "stride", 32) or 32)
    if w % stride or h % stride:
        raise YoloError(f"--size {w}x{h}: each side must be a multiple of the stride {stride}")
    base = args.out or str(Path(args.weights or args.model).with_suffix(""))
    if args.format == "darknet":
        from ..export.darknet import export_darknet

        if args.out is None:
            base = base + "-export"
        cfg, weights = export_darknet(net, base)
        print(f"wrote {cfg} and {weights}")
        return 0
    out = args.out or base + SUFFIX[args.format]
    net.fuse()
    if args.format == "onnx":
        from ..export.onnx import export_onnx

        export_onnx(net, out, (w, h), dynamic=args.dynamic, with_nms=args.with_nms,
                    conf=args.conf, iou=args.iou, max_det=args.max_det, mish=args.mish)
    elif args.format == "openvino":
        from ..export.openvino import export_openvino

        calib = None
        if args.calibration:
            from ..runtime.openvino import load_calibration

            calib = load_calibration(args.calibration, (w, h),
                                     letterbox=bool(net.sections[0].get_int("letter_box", 0)))
        xml, binary = export_openvino(net, out, (w, h), dynamic=args.dynamic,
                                      with_nms=args.with_nms, conf=args.conf, iou=args.iou,
                                      max_det=args.max_det, calibration=calib)
        print(f"wrote {xml} and {binary}")
        return 0
    else:
        from ..export.torchscript import export_torchscript

        if args.with_nms:
            raise YoloError("--with-nms is available for --format onnx only (TorchScript "
                            "traces cannot hold NMS); run NMS with yolov4.postprocess")
        export_torchscript(net, out, (w, h))
    print(f"wrote {os.fspath(out)}")
    return 0
