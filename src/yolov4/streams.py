"""Live sources: webcams, RTSP/HTTP(S) streams and videos read as a live stream.

A camera or a network stream produces frames at its own pace; a detector slower than that must
work on the *newest* frame, not on a queue that grows (the lag users of trackers complain
about). :class:`LatestFrameReader` reads the source on a thread and keeps one frame: each
:meth:`~LatestFrameReader.read` returns a frame newer than the previous one, and frames nobody
read in between are dropped and counted. A dropped connection is re-opened with exponential
back-off; a source that cannot be opened at all is a :class:`~yolov4.errors.DataError` at once.

Sources (:func:`parse_live_source`): a webcam index (``0`` or ``"0"``), a URL
(``rtsp://``, ``rtsps://``, ``rtmp://``, ``http(s)://``, ``udp://``, ``tcp://``, ``srt://``),
or a video file (read at its own frame rate when ``realtime``, optionally looping).
Frames are ``np.ndarray[H, W, 3]`` uint8 **BGR** as OpenCV decodes them.
"""
from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from .errors import DataError

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
Source = Union[int, str]


def is_live_source(source: Any) -> bool:
    """True for a webcam index (int or digit string) or a stream URL (:data:`URL_SCHEMES`)."""
    if isinstance(source, bool):
        return False
    if isinstance(source, int):
        return source >= 0
    if not isinstance(source, str):
        return False
    if source.isdigit():
        return True
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.lower() in URL_SCHEMES


def parse_live_source(source: Any) -> Source:
    """A webcam index as ``int``, a URL or a video path as ``str``."""
    if isinstance(source, int) and not isinstance(source, bool):
        return source
    s = os.fspath(source)
    return int(s) if s.isdigit() else s


def source_name(source: Source) -> str:
    """A name for messages and output files: ``webcam0``, the URL without credentials, or the
    file's path."""
    if isinstance(source, int):
        return f"webcam{source}"
    scheme, sep, rest = source.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:  # rtsp://user:password@host/... -> rtsp://host/...
        rest = rest.split("@", 1)[1]
    return f"{scheme}://{rest}" if sep else source


def open_capture(source: Source, timeout: float = 10.0) -> "cv2.VideoCapture":
    """``cv2.VideoCapture`` on a live source with a one-frame buffer and open/read timeouts;
    :class:`DataError` naming the source when it cannot be opened."""
    if isinstance(source, str) and not is_live_source(source) and not os.path.isfile(source):
        raise DataError(f"{source}: no such video file, webcam index or stream URL "
                        f"({', '.join(s + '://' for s in URL_SCHEMES)})")
    ms = int(timeout * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    cap = cv2.VideoCapture(source, cv2.CAP_ANY, params)
    if not cap.isOpened():
        cap.release()
        kind = "webcam" if isinstance(source, int) else (
            "stream" if is_live_source(source) else "video")
        raise DataError(f"{source_name(source)}: cannot open {kind} (not reachable, not a video, "
                        f"or no OpenCV backend for it)")
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver's own queue short where it has one
    return cap


_OPEN_READERS: "weakref.WeakSet[LatestFrameReader]" = weakref.WeakSet()
_ATEXIT_HOOKED = False


def _close_open_readers() -> None:
    """Stop reader threads before the interpreter finalises: a daemon thread still inside an
    OpenCV call when Python tears down aborts the process (std::terminate)."""
    for reader in list(_OPEN_READERS):
        reader.close()


def _track(reader: "LatestFrameReader") -> None:
    global _ATEXIT_HOOKED
    if not _ATEXIT_HOOKED:
        atexit.register(_close_open_readers)
        _ATEXIT_HOOKED = True
    _OPEN_READERS.add(reader)


@dataclass
class Frame:
    """One frame of a live source: ``index`` counts every frame the source produced (from 1,
    across reconnects), so gaps between two reads are the frames dropped."""

    index: int
    image: np.ndarray
    time: float


class LatestFrameReader:
    """Reads ``source`` on a thread, keeping only the newest frame.

    Args:
        source: webcam index, stream URL or video path (:func:`parse_live_source`).
        realtime: pace a video file at its frame rate as a camera would (default: True for
            files; live sources are never paced).
        loop: start a video file again at its end (a demo or test feed) instead of ending.
        reconnect: re-open a live source that stops delivering frames, waiting ``backoff[0]``
            seconds, doubling up to ``backoff[1]``; ``max_retries`` consecutive failed re-opens
            (None: no limit) end the reader with an error.
        timeout: seconds OpenCV may take to open or read.
        capture_factory: ``source -> capture`` with ``read()``, ``release()``, ``get()`` (tests
            and custom backends); default :func:`open_capture`.

    Raises:
        DataError: the source cannot be opened (raised here, not on the thread).
    """

    def __init__(self, source: Any, *, realtime: Optional[bool] = None, loop: bool = False,
                 reconnect: bool = True, backoff: Tuple[float, float] = (0.5, 10.0),
                 max_retries: Optional[int] = None, timeout: float = 10.0,
                 capture_factory: Optional[Callable[[Source], Any]] = None) -> None:
        self.source = parse_live_source(source)
        self.name = source_name(self.source)
        self.live = is_live_source(self.source)
        self.realtime = (not self.live) if realtime is None else bool(realtime)
        self.loop, self.reconnect = bool(loop), bool(reconnect)
        self.backoff, self.max_retries = backoff, max_retries
        self._open = capture_factory or (lambda s: open_capture(s, timeout))
        self._cap = self._open(self.source)  # errors surface to the caller
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else 25.0
        self.produced = 0     # frames read from the source
        self.delivered = 0    # frames returned by read()
        self.reconnects = 0
        self._frame: Optional[Frame] = None
        self._last_read = 0
        self._ended = False
        self._error: Optional[str] = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"reader {self.name}",
                                        daemon=True)
        _track(self)
        self._thread.start()

    # ------------------------------------------------------------------ consumer side
    @property
    def dropped(self) -> int:
        """Frames the source produced that no :meth:`read` returned (read side-stepped them)."""
        with self._cond:
            pending = 1 if self._frame is not None and self._frame.index > self._last_read else 0
            return self.produced - self.delivered - pending

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The newest frame not returned before; waits for one up to ``timeout`` seconds.

        Returns None at the end of a video (or after :meth:`close`, or on timeout).
        Raises:
            DataError: the source failed for good (re-opening gave up).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set():
                f = self._frame
                if f is not None and f.index > self._last_read:
                    self._last_read = f.index
                    self.delivered += 1
                    return f
                if self._error is not None:
                    raise DataError(self._error)
                if self._ended:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            return None

    def __iter__(self) -> Iterator[Frame]:
        while True:
            f = self.read()
            if f is None:
                return
            yield f

    def close(self) -> None:
        """Stop the thread and release the capture."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def __enter__(self) -> "LatestFrameReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ reader thread
    def _publish(self, image: np.ndarray) -> None:
        with self._cond:
            self.produced += 1
            self._frame = Frame(self.produced, image, time.monotonic())
            self._cond.notify_all()

    def _finish(self, error: Optional[str] = None) -> None:
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()

    def _reopen(self) -> bool:
        """Re-open the live source with back-off; False when stopped or out of retries."""
        delay, failures = self.backoff[0], 0
        while not self._stop.wait(delay):
            try:
                self._cap = self._open(self.source)
                self.reconnects += 1
                return True
            except DataError as err:
                failures += 1
                if self.max_retries is not None and failures >= self.max_retries:
                    self._finish(f"{err}; gave up after {failures} attempts to reconnect")
                    return False
                delay = min(delay * 2, self.backoff[1])
        return False

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as err:  # noqa: BLE001 - ends the reader; read() raises it
            self._finish(str(err) if isinstance(err, DataError)
                         else f"{self.name}: {type(err).__name__}: {err}")
        finally:
            self._cap.release()

    def _loop(self) -> None:
        period = 1.0 / self.fps
        next_due = time.monotonic()
        while not self._stop.is_set():
            ok, image = self._cap.read()
            if ok and image is not None:
                if self.realtime:
                    next_due += period
                    wait = next_due - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        break
                    if wait < -1.0:  # fell far behind (a slow machine): do not burst
                        next_due = time.monotonic()
                self._publish(image)
                continue
            self._cap.release()
            if not self.live:
                if self.loop and self.produced:
                    self._cap = self._open(self.source)
                    continue
                if not self.produced:
                    self._finish(f"{self.name}: video has no readable frames")
                else:
                    self._finish()
                return
            if not self.reconnect or not self._reopen():
                if not self._ended:
                    self._finish(None if self._stop.is_set() or not self.reconnect
                                 else f"{self.name}: stream ended")
                return
        self._finish()
