"""``yolov4 anchors DATA -n 9 --size 608 [--cfg IN.cfg --write OUT.cfg]``: k-means anchors."""
from __future__ import annotations

import argparse
import warnings

from ..errors import YoloError


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.anchors import (ANCHOR_RATIO, anchor_fit, box_sizes, format_anchors,
                                kmeans_anchors, write_anchors_cfg)
    from ..data.dataset import DataWarning
    from ..data.formats import load_dataset

    width = args.width or args.size
    height = args.height or args.size
    if args.cfg and not (args.size or args.width):
        from ..darknet.cfg import read_cfg
        net = read_cfg(args.cfg)[0]
        width, height = net.get_int("width", 608), net.get_int("height", 608)
    width, height = width or 608, height or 608
    if args.write and not args.cfg:
        raise YoloError("--write needs --cfg (the cfg to copy with the new anchors)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # `yolov4 data check` lists them
        wh = box_sizes(load_dataset(args.data, args.split), width, height)
    if args.cfg:
        from ..darknet.cfg import read_cfg
        yolo = next((s for s in read_cfg(args.cfg) if s.type == "yolo"), None)
        if yolo is not None and yolo.has("anchors"):
            from ..darknet.yolo_settings import YoloSettings
            current = np.asarray(YoloSettings.from_section(yolo).anchors,
                                 np.float64).reshape(-1, 2)
            bpr, cur_iou = anchor_fit(wh, current)
            print(f"{args.cfg} anchors: best possible recall {bpr * 100:.2f}%, mean best IoU "
                  f"{cur_iou * 100:.2f}%")
    anchors, iou = kmeans_anchors(wh, args.n, seed=args.seed, restarts=args.restarts)
    print(f"{len(wh)} boxes at {width}x{height}, {args.n} clusters")
    print(f"anchors = {format_anchors(anchors, width)}")
    print(f"mean best IoU = {iou * 100:.2f}%, best possible recall "
          f"{anchor_fit(wh, anchors)[0] * 100:.2f}% (a side within x{ANCHOR_RATIO:g})")
    if args.write:
        write_anchors_cfg(args.cfg, anchors, args.write)
        print(f"wrote {args.write}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("anchors", help="k-means anchors of a dataset (Darknet calc_anchors)")
    p.add_argument("data", help="data.yaml, obj.data, COCO json/dir or VOC dir")
    p.add_argument("-n", "--num", dest="n", type=int, default=9, help="number of anchors")
    p.add_argument("--size", type=int, default=None, help="network size (default: the cfg's, "
                   "else 608)")
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--split", default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--restarts", type=int, default=5)
    p.add_argument("--cfg", help="cfg whose [yolo] sections receive the anchors")
    p.add_argument("--write", help="output cfg (needs --cfg)")
    p.set_defaults(func=_run)
