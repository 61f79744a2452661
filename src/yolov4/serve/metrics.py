"""Server metrics: request counts, latency percentiles, batch sizes, stream frames per second.

:meth:`Metrics.prometheus` renders them in Prometheus' text exposition format (version 0.0.4):
counters ``yolov4_requests_total{route, code}``, summaries ``yolov4_request_seconds{route}``
(quantiles 0.5/0.9/0.99 over the last ``window`` requests of the route, with ``_sum`` and
``_count`` over all), ``yolov4_batch_size`` and gauges for the queue, the stream and uptime.
:meth:`Metrics.snapshot` gives the same numbers as a dict (``/health``, the benchmark).
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

QUANTILES = (0.5, 0.9, 0.99)


def percentile(values: List[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by linear interpolation between order statistics
    (numpy's default ``linear`` method); NaN when empty."""
    if not values:
        return float("nan")
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


class _Series:
    """Count, sum and the last ``window`` observations of one quantity."""

    def __init__(self, window: int) -> None:
        self.count, self.total = 0, 0.0
        self.recent: Deque[float] = collections.deque(maxlen=window)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.recent.append(value)


class Metrics:
    """Thread-safe counters of one server (requests arrive on the event loop, batches and
    stream frames on worker threads)."""

    def __init__(self, window: int = 2048) -> None:
        self.window = window
        self.started = time.time()
        self._lock = threading.Lock()
        self._requests: Dict[Tuple[str, int], int] = collections.Counter()
        self._latency: Dict[str, _Series] = {}
        self._batch = _Series(window)
        self._inference = _Series(window)
        self._frames: Deque[float] = collections.deque(maxlen=window)
        self.frames_total = 0
        self.gauges: Dict[str, Callable[[], float]] = {}

    def request(self, route: str, code: int, seconds: float) -> None:
        with self._lock:
            self._requests[(route, int(code))] += 1
            self._latency.setdefault(route, _Series(self.window)).add(seconds)

    def batch(self, size: int, seconds: float) -> None:
        with self._lock:
            self._batch.add(float(size))
            self._inference.add(seconds)

    def frame(self) -> None:
        with self._lock:
            self.frames_total += 1
            self._frames.append(time.monotonic())

    def frames_per_second(self, horizon: float = 5.0) -> float:
        """Stream frames processed per second over the last ``horizon`` seconds."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._frames if now - t <= horizon]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], 1e-9)
        return len(recent) / span

    def snapshot(self) -> Dict[str, Any]:
        """Numbers as a dict: ``requests`` {"route code": n}, ``latency_ms`` per route
        {p50, p90, p99, count}, ``batch`` {mean_size, batches}, ``stream_fps``, ``uptime_s``."""
        with self._lock:
            requests = {f"{r} {c}": n for (r, c), n in sorted(self._requests.items())}
            latency = {r: {**{f"p{int(q * 100)}": 1000 * percentile(list(s.recent), q)
                              for q in QUANTILES}, "count": s.count}
                       for r, s in sorted(self._latency.items())}
            batch = {"batches": self._batch.count,
                     "mean_size": self._batch.total / self._batch.count if self._batch.count
                     else 0.0,
                     "inference_ms_mean": 1000 * self._inference.total / self._inference.count
                     if self._inference.count else 0.0}
        return {"requests": requests, "latency_ms": latency, "batch": batch,
                "stream_frames": self.frames_total, "stream_fps": self.frames_per_second(),
                "uptime_s": time.time() - self.started,
                **{k: f() for k, f in self.gauges.items()}}

    def prometheus(self) -> str:
        """Prometheus text exposition format."""
        out: List[str] = []

        def head(name: str, kind: str, text: str) -> None:
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            head("yolov4_requests_total", "counter", "HTTP requests by route and status code.")
            for (route, code), n in sorted(self._requests.items()):
                out.append(f'yolov4_requests_total{{route="{route}",code="{code}"}} {n}')
            head("yolov4_request_seconds", "summary",
                 f"Request latency; quantiles over the last {self.window} requests.")
            for route, s in sorted(self._latency.items()):
                recent = list(s.recent)
                for q in QUANTILES:
                    out.append(f'yolov4_request_seconds{{route="{route}",quantile="{q}"}} '
                               f"{_num(percentile(recent, q))}")
                out.append(f'yolov4_request_seconds_sum{{route="{route}"}} {_num(s.total)}')
                out.append(f'yolov4_request_seconds_count{{route="{route}"}} {s.count}')
            head("yolov4_batch_size", "summary", "Images per forward pass.")
            out.append(f"yolov4_batch_size_sum {_num(self._batch.total)}")
            out.append(f"yolov4_batch_size_count {self._batch.count}")
            head("yolov4_inference_seconds", "summary", "Forward pass + NMS time per batch.")
            out.append(f"yolov4_inference_seconds_sum {_num(self._inference.total)}")
            out.append(f"yolov4_inference_seconds_count {self._inference.count}")
            head("yolov4_stream_frames_total", "counter", "Frames of --source processed.")
            out.append(f"yolov4_stream_frames_total {self.frames_total}")
        head("yolov4_stream_frames_per_second", "gauge", "Frames of --source per second (5 s).")
        out.append(f"yolov4_stream_frames_per_second {_num(self.frames_per_second())}")
        for name, f in sorted(self.gauges.items()):
            head(f"yolov4_{name}", "gauge", name.replace("_", " ") + ".")
            out.append(f"yolov4_{name} {_num(f())}")
        head("yolov4_uptime_seconds", "gauge", "Seconds since the server started.")
        out.append(f"yolov4_uptime_seconds {_num(time.time() - self.started)}")
        return "\n".join(out) + "\n"


def _num(value: Optional[float]) -> str:
    if value is None or value != value:
        return "NaN"
    return repr(float(value))
