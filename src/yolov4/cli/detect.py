"""``yolov4 detect``: detections on an image, a directory, a glob or a video; annotated output."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, List

from ..errors import DataError, YoloError

NMS_HELP = ("NMS kind (default: the cfg's last [yolo] nms_kind). 'greedy' is the classic IoU "
            "test (Darknet's default do_nms_sort, OpenCV's NMSBoxes); 'diou' is DIoU-NMS with "
            "the cfg's beta_nms; note a cfg's nms_kind=greedynms is Darknet's DIoU test with "
            "exponent 0.6, not the classic test; 'soft-linear'/'soft-gaussian' are Soft-NMS.")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "detect", help="detect objects in images, directories, globs or videos",
        description="Detect objects with a Darknet cfg (+ weights) or a model-zoo name. "
                    "Writes annotated images/videos to --out, optionally COCO json and YOLO txt.")
    p.add_argument("source", help="image, directory, glob pattern (quote it), video file, "
                                  "webcam index (0) or stream URL (rtsp://, http(s)://, ...)")
    add_detector_args(p)
    p.add_argument("--out", default="runs/detect", help="output directory (default runs/detect)")
    p.add_argument("--no-save", action="store_true", help="do not write annotated images/video")
    p.add_argument("--save-json", metavar="FILE",
                   help="write COCO results [{file_name, category_id (0-based), bbox, score}]")
    p.add_argument("--save-txt", action="store_true",
                   help="write YOLO label lines 'class cx cy w h' (fractions) per image into "
                        "OUT/labels")
    p.add_argument("--save-conf", action="store_true", help="append the score to --save-txt lines")
    p.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    p.add_argument("--live", action="store_true",
                   help="read a video file as a live stream (paced at its frame rate, always "
                        "the newest frame); webcams and URLs are always live")
    p.add_argument("--max-frames", type=int, metavar="N",
                   help="stop a video or live stream after N processed frames (Ctrl-C also "
                        "stops it, keeping what was written)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-image lines")
    p.set_defaults(func=run)


def add_detector_args(p: argparse.ArgumentParser) -> None:
    """The options that build a :class:`yolov4.predict.Detector` (``detect`` and ``serve``)."""
    p.add_argument("--model", required=True, help="model-zoo name or Darknet .cfg path")
    p.add_argument("--weights", help="Darknet .weights (or .pt state dict)")
    p.add_argument("--names", help=".names file (one class per line); default COCO for 80 classes")
    p.add_argument("--size", type=int, nargs="+", metavar="N",
                   help="input size: N, or W H (default: the cfg's [net] width/height)")
    p.add_argument("--conf", type=float, default=0.25, help="score threshold (obj x class prob)")
    p.add_argument("--iou", type=float, default=0.45, help="NMS threshold")
    p.add_argument("--nms", choices=("greedy", "diou", "soft-linear", "soft-gaussian"),
                   help=NMS_HELP)
    p.add_argument("--letterbox", action=argparse.BooleanOptionalAction, default=None,
                   help="keep aspect ratio with grey borders (default: the cfg's letter_box)")
    p.add_argument("--agnostic", action="store_true", help="class-agnostic NMS")
    p.add_argument("--max-det", type=int, default=300, help="detections kept per image")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--optimize", action="store_true",
                   help="CPU speed-ups: channels-last, fast Mish, pre-packed oneDNN convolutions "
                        "(fp32 results unchanged within 1e-5)")
    p.add_argument("--engine", choices=("torch", "openvino"), default="torch",
                   help="inference engine: torch, or OpenVINO on the CPU (optional package "
                        "'openvino'; the fastest CPU path for yolov4, see benchmarks/RESULTS.md)")
    p.add_argument("--calibration", metavar="IMAGES",
                   help="with --engine openvino: int8 quantisation (optional package 'nncf') "
                        "calibrated on these images (file, directory or glob; a few dozen of "
                        "the target domain)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 network with --optimize or --engine openvino (reduced "
                        "precision, faster on AVX512-BF16/AMX CPUs)")


def make_detector(args: argparse.Namespace):
    """A :class:`yolov4.predict.Detector` from :func:`add_detector_args`' options."""
    from ..predict import Detector

    size = None
    if args.size:
        if len(args.size) > 2:
            raise YoloError("--size takes N or W H")
        size = args.size[0] if len(args.size) == 1 else tuple(args.size)
    return Detector(args.model, args.weights, names=args.names, size=size, conf=args.conf,
                    iou=args.iou, nms=args.nms, letterbox=args.letterbox, device=args.device,
                    agnostic=args.agnostic, max_det=args.max_det, optimize=args.optimize,
                    bf16=args.bf16, engine=args.engine, calibration=args.calibration)


def _progress(iterable: Any, total: Any, enabled: bool, unit: str) -> Any:
    """A tqdm bar over ``iterable`` (or a manual bar when it is None); None/iterable if off."""
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return iterable
    return tqdm(iterable, total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)


def _warn(message: str, bar: Any) -> None:
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from ..predict import is_video
    from ..streams import is_live_source

    det = make_detector(args)
    out = Path(args.out)
    if not args.no_save or args.save_txt:
        out.mkdir(parents=True, exist_ok=True)
    if args.save_txt:
        (out / "labels").mkdir(parents=True, exist_ok=True)
    records: List[dict] = []
    if args.live or is_live_source(args.source):
        _detect_live(det, args, out, records)
    elif is_video(args.source):
        _detect_video(det, args, out, records)
    else:
        _detect_images(det, args, out, records)
    if args.save_json:
        target = Path(args.save_json)
        if target.parent:
            target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8") as f:
            json.dump(records, f)
    return 0


def _save_labels(args: argparse.Namespace, out: Path, name: str, d) -> None:
    if args.save_txt:
        (out / "labels" / f"{name}.txt").write_text(
            "".join(line + "\n" for line in d.to_yolo_lines(args.save_conf)))


def _detect_video(det, args: argparse.Namespace, out: Path, records: List[dict]) -> None:
    """Every frame of the video ``args.source``: an annotated ``.mp4``, labels, JSON records."""
    import cv2

    from ..predict import open_video

    cap = open_video(args.source)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    if args.max_frames:
        frames = min(frames or args.max_frames, args.max_frames)
    _write_frames(det.stream(args.source, batch_size=args.batch_size), args, out, records,
                  Path(args.source).stem, fps, frames)


def _detect_live(det, args: argparse.Namespace, out: Path, records: List[dict]) -> None:
    """A webcam, stream URL or (``--live``) video read as a live stream: the newest frame each
    time; outputs as for a video, at the source's frame rate."""
    import re

    from ..streams import LatestFrameReader

    reader = LatestFrameReader(args.source)
    stem = (Path(reader.name).stem if not reader.live else
            re.sub(r"[^\w.-]+", "_", reader.name.split("://")[-1]).strip("_") or "stream")

    def frames():
        import cv2

        with reader:
            for f in reader:
                rgb = cv2.cvtColor(f.image, cv2.COLOR_BGR2RGB)
                yield from det.detect_images([rgb], [reader.name], keep_images=True,
                                             frames=[f.index])

    _write_frames(frames(), args, out, records, stem, reader.fps, args.max_frames)
    if not args.quiet:
        print(f"{reader.name}: {reader.produced} frames read, {reader.delivered} processed, "
              f"{reader.dropped} dropped (newest frame first)"
              + (f", {reader.reconnects} reconnects" if reader.reconnects else ""),
              file=sys.stderr)


def _write_frames(stream, args: argparse.Namespace, out: Path, records: List[dict], stem: str,
                  fps: float, frames) -> None:
    """Detections of a frame stream -> an annotated ``OUT/stem.mp4``, labels, JSON records;
    stops after ``--max-frames`` or on Ctrl-C, closing the video properly."""
    import cv2

    source, save_images = args.source, not args.no_save
    writer = None
    video_out = out / (stem + ".mp4")
    total_dets = done = 0
    try:
        for d in _progress(stream, frames, not args.quiet, "frame"):
            if save_images:
                if writer is None:
                    h, w = d.image_size
                    writer = cv2.VideoWriter(str(video_out), cv2.VideoWriter_fourcc(*"mp4v"),
                                             fps, (w, h))
                    if not writer.isOpened():
                        raise DataError(f"{video_out}: cannot write video")
                writer.write(cv2.cvtColor(d.draw(), cv2.COLOR_RGB2BGR))
            name = f"{stem}_{d.frame:06d}"
            for r in d.to_coco_json():
                r["file_name"] = name
                records.append(r)
            _save_labels(args, out, name, d)
            total_dets += len(d)
            done += 1
            if args.max_frames and done >= args.max_frames:
                break
    except KeyboardInterrupt:
        print(f"interrupted after {done} frames", file=sys.stderr)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        if writer is not None:
            writer.release()
    if not args.quiet:
        print(f"{source}: {total_dets} detections; video written to {video_out}"
              if save_images else f"{source}: {total_dets} detections", file=sys.stderr)


def _detect_images(det, args: argparse.Namespace, out: Path, records: List[dict]) -> None:
    """Every image of ``args.source`` in batches: annotated copies, labels, JSON records; an
    image that does not decode is skipped with a warning when there are several."""
    import cv2

    from ..predict import resolve_images
    from ..preprocess import load_image

    save_images = not args.no_save
    paths = resolve_images(args.source)
    many = len(paths) > 1
    skipped = total_dets = 0
    bar = _progress(None, len(paths), many and not args.quiet, "img")
    for start in range(0, len(paths), args.batch_size):
        images, ok_paths = [], []
        for p in paths[start:start + args.batch_size]:
            try:
                images.append(load_image(p))
                ok_paths.append(p)
            except DataError as err:
                if not many:
                    raise
                skipped += 1
                _warn(f"warning: skipped {err}", bar)
        for d in det.detect_images(images, ok_paths):
            if save_images:
                target = out / Path(d.path).name
                drawn = d.draw(images[ok_paths.index(d.path)])
                if not cv2.imwrite(str(target), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
                    raise DataError(f"{target}: cannot write image")
            _save_labels(args, out, Path(d.path).stem, d)
            records.extend(d.to_coco_json())
            total_dets += len(d)
            if not many and not args.quiet:
                summary = ", ".join(f"{n} {s:.2f}" for n, s in zip(d.labels, d.scores.tolist()))
                print(f"{d.path}: {summary or 'no detections'}")
        if bar is not None:
            bar.update(len(paths[start:start + args.batch_size]))
    if bar is not None:
        bar.close()
    if many and not args.quiet:
        print(f"{len(paths) - skipped} images, {total_dets} detections"
              + (f", {skipped} skipped" if skipped else "")
              + (f"; annotated images in {out}" if save_images else ""), file=sys.stderr)
