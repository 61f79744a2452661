"""The HTTP API (FastAPI): ``/detect``, ``/stream.mjpg``, ``/stream.json``, ``/``, ``/health``,
``/metrics``.

``create_app(detector, ServeSettings(...), source=...)`` builds the application; ``yolov4
serve`` runs it under uvicorn. Requests never name local files: images come in the body.
Errors are JSON ``{"detail": "<one line>"}``: 400 (not an image, bad multipart), 413 (upload or
image too large), 422 (query parameter out of bounds), 503 (queue full, ``Retry-After: 1``).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, AsyncIterator, Dict, Optional

import cv2
import numpy as np
import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..predict import Detector
from .batcher import MicroBatcher, QueueFull
from .formats import detections_json
from .live import StreamHub
from .metrics import Metrics

ROUTES = ("/", "/detect", "/stream.mjpg", "/stream.json", "/health", "/metrics")
MJPEG_BOUNDARY = "mjpegstream"


@dataclass
class ServeSettings:
    """Server limits and batching.

    Attributes:
        max_batch: images per forward pass (1: no micro-batching); None: 8 on CUDA, 1 on
            the CPU, where a batch costs per image what single images cost and only adds
            memory and the wait (``benchmarks/serve.py``: 0.87-1.05x). max_wait_ms: how long a
            request waits for others to share its batch. max_queue: waiting requests before
            503. max_upload_mb: request body limit (413). max_pixels: decoded image limit
            (413). max_det_limit: the largest ``max_det`` a request may ask for.
        jpeg_quality: MJPEG quality. stream_timeout: seconds a stream client waits for a
            frame before the stream is closed.
    """

    max_batch: Optional[int] = None
    max_wait_ms: float = 5.0
    max_queue: int = 64
    max_upload_mb: float = 16.0
    max_pixels: int = 40_000_000
    max_det_limit: int = 1000
    jpeg_quality: int = 80
    stream_timeout: float = 30.0


class HttpError(Exception):
    def __init__(self, status: int, detail: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def _one_line(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body"))
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (by Content-Length at once,
    else while reading a chunked upload)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"upload of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"upload exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def image_bytes(request: Request, body: bytes) -> bytes:
    """The image of a raw body, or of a ``multipart/form-data`` body's ``image``/``file``
    field (else its first file)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return body
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def replay() -> AsyncIterator[bytes]:
        yield body

    try:
        form = await MultiPartParser(request.headers, replay()).parse()
    except MultiPartException as err:
        raise HttpError(400, f"bad multipart body: {err.message}") from None
    files = [(k, v) for k, v in form.multi_items() if hasattr(v, "read")]
    chosen = next((v for k, v in files if k in ("image", "file")), files[0][1] if files else None)
    if chosen is None:
        raise HttpError(400, "multipart body has no file field (send it as 'image')")
    return await chosen.read()


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Encoded bytes -> RGB ``np.ndarray[H, W, 3]`` uint8; 400/413 with the reason."""
    if not data:
        raise HttpError(400, "empty body: send the image as the request body or as a "
                             "multipart field 'image'")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise HttpError(400, f"body is not an image OpenCV can decode ({len(data)} bytes; "
                             f"send JPEG, PNG, BMP, WebP or TIFF)")
    h, w = image.shape[:2]
    if h * w > max_pixels:
        raise HttpError(413, f"image {w}x{h} exceeds the limit of {max_pixels} pixels")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class _MetricsMiddleware:
    """Counts every request by route and status and times it to its last body byte."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in ROUTES else "other"
        start, state = time.perf_counter(), {"code": 500, "done": False}

        async def wrapped(message: Dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                state["done"] = True
                self.metrics.request(route, state["code"], time.perf_counter() - start)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            if not state["done"]:  # a stream closed by the client, or an error
                self.metrics.request(route, state["code"], time.perf_counter() - start)


def create_app(detector: Detector, settings: Optional[ServeSettings] = None,
               source: Any = None, reader_options: Optional[Dict[str, Any]] = None,
               model_name: str = "") -> FastAPI:
    """The application. ``source``: a live source for the stream routes (webcam index, URL,
    video file; an already opened :class:`yolov4.streams.LatestFrameReader` too), opened
    here so that a bad source fails before the server starts. ``model_name`` is shown by
    ``/health``."""
    from ..streams import LatestFrameReader

    cfg = dataclasses.replace(settings or ServeSettings())
    if cfg.max_batch is None:
        cuda = torch.device(getattr(detector, "device", "cpu")).type == "cuda"
        cfg.max_batch = 8 if cuda else 1
    metrics = Metrics()
    batcher = MicroBatcher(detector, cfg.max_batch, cfg.max_wait_ms, cfg.max_queue,
                           on_batch=metrics.batch)
    hub = None
    if source is not None:
        reader = source if isinstance(source, LatestFrameReader) else LatestFrameReader(
            source, **(reader_options or {}))
        hub = StreamHub(reader, batcher, detector.settings, detector.names, metrics,
                        cfg.jpeg_quality)
    metrics.gauges["queue_depth"] = lambda: float(batcher.depth)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        if hub is not None:
            hub.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            if hub is not None:
                hub.stop()
            batcher.stop()

    app = FastAPI(title="yolov4", version=_version(), lifespan=lifespan,
                  description="YOLOv4 object detection: POST an image to /detect.")
    app.state.batcher, app.state.hub, app.state.metrics, app.state.settings = (
        batcher, hub, metrics, cfg)

    @app.exception_handler(HttpError)
    async def _http_error(request: Request, err: HttpError) -> JSONResponse:
        return JSONResponse({"detail": err.detail}, status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(err)}, status_code=422)

    @app.post("/detect", summary="Detect objects in an image (raw body or multipart 'image')")
    async def detect(request: Request,
                     conf: Optional[float] = Query(None, ge=0.0, le=1.0,
                                                   description="score threshold"),
                     iou: Optional[float] = Query(None, ge=0.0, le=1.0,
                                                  description="NMS IoU threshold"),
                     max_det: Optional[int] = Query(None, ge=1, le=cfg.max_det_limit,
                                                    description="detections kept at most")
                     ) -> Dict[str, Any]:
        t0 = time.perf_counter()
        body = await read_body(request, int(cfg.max_upload_mb * 1024 * 1024))
        if batcher.full:  # refuse before decoding: an overloaded server spends no CPU on it
            raise busy(f"{batcher.max_queue} requests are waiting")
        data = await image_bytes(request, body)
        image = await run_in_threadpool(decode_image, data, cfg.max_pixels)
        t1 = time.perf_counter()
        changes = {k: v for k, v in (("conf", conf), ("iou", iou), ("max_det", max_det))
                   if v is not None}
        nms = dataclasses.replace(detector.settings, **changes)
        try:
            future = batcher.submit(image, nms)
        except QueueFull as err:  # filled up while this image was being decoded
            raise busy(str(err)) from None
        d, info = await asyncio.wrap_future(future)
        h, w = d.image_size
        return {"image": {"width": w, "height": h},
                "detections": detections_json(d),
                "settings": {"conf": nms.conf, "iou": nms.iou, "max_det": nms.max_det,
                             "nms": nms.kind},
                "timings_ms": {"decode": round((t1 - t0) * 1000, 2),
                               "queue": round(info.queue_ms, 2),
                               "inference": round(info.inference_ms, 2),
                               "total": round((time.perf_counter() - t0) * 1000, 2)},
                "batch_size": info.batch_size}

    def busy(why: str) -> HttpError:
        return HttpError(503, f"server busy: {why}; retry shortly", {"Retry-After": "1"})

    def need_hub() -> StreamHub:
        if hub is None:
            raise HttpError(404, "no stream: start the server with --source (webcam index, "
                                 "stream URL or video file)")
        return hub

    @app.get("/stream.mjpg", summary="Annotated MJPEG of --source (Darknet's -mjpeg_port)")
    async def stream_mjpg() -> StreamingResponse:
        h = need_hub()

        async def frames() -> AsyncIterator[bytes]:
            last = 0
            while True:
                item = await h.next_frame(last, cfg.stream_timeout)
                if item is None:
                    return
                last = item.frame_id
                yield (f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                       f"{len(item.jpeg)}\r\n\r\n").encode() + item.jpeg + b"\r\n"

        return StreamingResponse(frames(), headers={"Cache-Control": "no-cache, private"},
                                 media_type=f"multipart/x-mixed-replace; "
                                            f"boundary={MJPEG_BOUNDARY}")

    @app.get("/stream.json", summary="Darknet's -json_port stream: an endless JSON array")
    async def stream_json() -> StreamingResponse:
        h = need_hub()

        async def objects() -> AsyncIterator[bytes]:
            last, first = 0, True
            yield b"[\n"
            while True:
                item = await h.next_frame(last, cfg.stream_timeout)
                if item is None:
                    yield b"\n]\n"  # the stream ended: close the array
                    return
                last = item.frame_id
                yield (("" if first else ", \n") + item.json).encode()
                first = False

        return StreamingResponse(objects(), media_type="application/json",
                                 headers={"Cache-Control": "no-cache, private"})

    @app.get("/", response_class=HTMLResponse, summary="Upload page and stream viewer")
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files(__package__).joinpath("page.html").read_text())

    @app.get("/health", summary="Liveness, model and stream state")
    async def health() -> Dict[str, Any]:
        stream = hub.status() if hub is not None else None
        ok = stream is None or stream["state"] == "running"
        return {"status": "ok" if ok else "degraded",
                "model": model_name or type(detector.net).__name__,
                "engine": detector.engine, "classes": detector.classes,
                "input_size": [detector.width, detector.height], "stream": stream,
                "queue_depth": batcher.depth, "max_batch": cfg.max_batch,
                "uptime_s": round(metrics.snapshot()["uptime_s"], 1)}

    @app.get("/metrics", response_class=PlainTextResponse,
             summary="Prometheus metrics (?format=json for a JSON summary)")
    async def metrics_route(format: str = Query("prometheus", pattern="^(prometheus|json)$")
                            ) -> Any:
        if format == "json":
            return JSONResponse(metrics.snapshot())
        return PlainTextResponse(metrics.prometheus(),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(_MetricsMiddleware, metrics=metrics)
    return app


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("yolov4")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "0"

