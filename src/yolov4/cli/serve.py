"""``yolov4 serve``: the HTTP API (``yolov4.serve``) under uvicorn."""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import sys
from typing import Any

from ..errors import YoloError
from .detect import add_detector_args, make_detector


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve", help="serve detection over HTTP (REST, MJPEG and JSON streams, a web page)",
        description="An HTTP server (FastAPI + uvicorn: pip install 'yolov4[serve]'): POST "
                    "/detect (image in the body or multipart 'image' -> JSON), GET / (upload "
                    "page), /health, /metrics (Prometheus); with --source also /stream.mjpg "
                    "(annotated, Darknet's -mjpeg_port) and /stream.json (Darknet's "
                    "-json_port format). Binds 127.0.0.1 unless --host says otherwise.")
    add_detector_args(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--source", metavar="S",
                   help="live source for the stream routes: webcam index (0), stream URL "
                        "(rtsp://, http(s)://, ...) or video file (looped, paced at its rate)")
    p.add_argument("--no-loop", action="store_true", help="end a video --source at its end")
    p.add_argument("--max-batch", type=int,
                   help="images per forward pass when requests arrive together (1: off; "
                        "default 8 on CUDA, 1 on the CPU, where batching measured no faster: "
                        "benchmarks/serve.py)")
    p.add_argument("--max-wait-ms", type=float, default=5.0,
                   help="how long a request waits for others to share its forward pass")
    p.add_argument("--max-queue", type=int, default=64,
                   help="requests waiting at most; more are answered 503")
    p.add_argument("--max-upload-mb", type=float, default=16.0,
                   help="largest request body (413 beyond)")
    p.add_argument("--jpeg-quality", type=int, default=80, help="MJPEG quality (1-100)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch threads for the forward pass (default: torch's choice)")
    p.add_argument("--log-level", default="info",
                   choices=("critical", "error", "warning", "info", "debug"),
                   help="uvicorn's log level")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..serve import ServeSettings, create_app
    except ImportError as err:
        raise YoloError(f"yolov4 serve needs the 'serve' extra ({err.name} is missing): "
                        f"pip install 'yolov4[serve]'") from None
    for name in ("max_batch", "max_queue"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise YoloError(f"--{name.replace('_', '-')} must be >= 1")
    if not 1 <= args.jpeg_quality <= 100:
        raise YoloError("--jpeg-quality must be within 1-100")
    limit_malloc_arenas()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    det = make_detector(args)
    settings = ServeSettings(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                             max_queue=args.max_queue, max_upload_mb=args.max_upload_mb,
                             jpeg_quality=args.jpeg_quality)
    app = create_app(det, settings, source=args.source,
                     reader_options=None if args.source is None else {"loop": not args.no_loop},
                     model_name=args.model)
    where = f"http://{args.host}:{args.port}"
    print(f"yolov4 serve: {args.model} on {where}/ (POST /detect, /health, /metrics"
          + (f"; stream of {args.source} at /stream.mjpg and /stream.json" if args.source
             else "") + ")", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (unless ``MALLOC_ARENA_MAX`` is set); True if it did.

    Why: requests are decoded on a pool of up to 40 threads and freed by the batcher thread;
    glibc gives threads arenas of their own (up to 8 per core) and memory freed into another
    thread's arena is rarely given back, so the resident size crept up under load (32
    clients at 320 px: 609 -> 757 MB over 4800 requests, still rising) where two arenas
    keep it flat (513-549 MB) at the same throughput (``benchmarks/serve.py``, issue 17).
    Must run before the server's threads start; a no-op on other C libraries."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, int(arenas)))
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
