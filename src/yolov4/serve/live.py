"""The server's live source: newest frame -> detections -> annotated JPEG and Darknet JSON.

One thread reads ``--source`` with :class:`yolov4.streams.LatestFrameReader`, sends each
newest frame through the server's :class:`~yolov4.serve.batcher.MicroBatcher` (so stream frames
and ``/detect`` requests share forward passes) and publishes the result. The MJPEG and JSON
routes wait on the event loop for the next published frame; a slow client skips frames rather
than buffering them (each client is sent the newest frame when it is ready for one).
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

import cv2

from ..postprocess import NmsSettings
from ..streams import LatestFrameReader
from .batcher import MicroBatcher
from .formats import darknet_frame_json
from .metrics import Metrics


@dataclass
class Published:
    """One processed frame: ``frame_id`` counts from 1 as Darknet's ``-json_port`` does."""

    frame_id: int
    jpeg: bytes
    json: str
    source_index: int


class StreamHub:
    """Runs detection on a live source for every client of the stream routes.

    Args:
        reader: the opened source (a video file should be opened with ``loop=True``).
        batcher: where frames are detected (blocking submit: the stream is never refused).
        settings: NMS settings of the stream. names: class names for the JSON.
        jpeg_quality: of the MJPEG frames (Darknet's ``-mjpeg_port`` uses 40; 80 default).
    """

    def __init__(self, reader: LatestFrameReader, batcher: MicroBatcher, settings: NmsSettings,
                 names: Sequence[str], metrics: Optional[Metrics] = None,
                 jpeg_quality: int = 80) -> None:
        self.reader, self.batcher, self.settings = reader, batcher, settings
        self.names, self.metrics = list(names), metrics
        self.jpeg_quality = int(jpeg_quality)
        self.latest: Optional[Published] = None
        self.error: Optional[str] = None
        self.ended = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._event: Optional[asyncio.Event] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="yolov4 stream", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start processing; waiters are woken on ``loop`` (the server's event loop)."""
        self._loop = loop
        self._event = asyncio.Event()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.reader.close()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)

    def status(self) -> Dict[str, Any]:
        r = self.reader
        return {"source": r.name, "frames_read": r.produced, "frames_processed": r.delivered,
                "frames_dropped": r.dropped, "reconnects": r.reconnects,
                "last_frame_id": self.latest.frame_id if self.latest else 0,
                "state": "failed" if self.error else "ended" if self.ended else "running",
                **({"error": self.error} if self.error else {})}

    async def next_frame(self, after: int, timeout: float = 30.0) -> Optional[Published]:
        """The newest frame with ``frame_id > after``; None when the stream has ended or
        nothing came within ``timeout`` seconds."""
        while True:
            latest = self.latest
            if latest is not None and latest.frame_id > after:
                return latest
            if self.ended or self._event is None:
                return None
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except asyncio.TimeoutError:
                return None

    # ------------------------------------------------------------------ thread
    def _wake(self) -> None:
        """On the event loop: release everyone waiting and arm a new event."""
        old, self._event = self._event, asyncio.Event()
        if old is not None:
            old.set()

    def _publish(self, item: Optional[Published]) -> None:
        if item is not None:
            self.latest = item
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # loop closed during shutdown
                pass

    def _run(self) -> None:
        frame_id = 0
        try:
            for f in self.reader:
                if self._stop.is_set():
                    break
                rgb = cv2.cvtColor(f.image, cv2.COLOR_BGR2RGB)
                d, _ = self.batcher.submit(rgb, self.settings, block=True).result()
                frame_id += 1
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(d.draw(rgb), cv2.COLOR_RGB2BGR),
                                        [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
                if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
                    raise RuntimeError("JPEG encoding failed")
                if self.metrics is not None:
                    self.metrics.frame()
                self._publish(Published(frame_id, jpeg.tobytes(),
                                        darknet_frame_json(d, frame_id, self.names), f.index))
        except Exception as err:  # noqa: BLE001 - shown by /health and ends the streams
            self.error = str(err)
        finally:
            self.ended = True
            self._publish(None)
