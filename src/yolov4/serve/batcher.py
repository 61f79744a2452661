"""Micro-batching: concurrent requests share one forward pass.

Requests wait in a bounded queue; one worker thread takes the first, then keeps collecting
until ``max_batch`` images or ``max_wait_ms`` after the first one, and runs them through
:meth:`yolov4.predict.Detector.detect_images` together, each image with its own NMS settings.
A full queue is refused at once (:class:`QueueFull`, HTTP 503) instead of growing memory.
One worker means one forward pass at a time, whatever the number of clients: the network's
own threads (``torch.set_num_threads``) use the cores.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from ..postprocess import NmsSettings


class QueueFull(Exception):
    """The request queue holds ``max_queue`` requests already."""


@dataclass
class Job:
    """One image to detect: RGB ``np.ndarray[H, W, 3]`` uint8 and its NMS settings."""

    image: np.ndarray
    settings: NmsSettings
    future: "Future[Any]" = field(default_factory=Future)
    queued: float = field(default_factory=time.perf_counter)


@dataclass
class BatchInfo:
    """Timings of the batch a job ran in, returned with its detections (milliseconds)."""

    queue_ms: float
    inference_ms: float
    batch_size: int


class MicroBatcher:
    """Collects :class:`Job` s into batches for ``detector.detect_images``.

    Args:
        detector: a :class:`yolov4.predict.Detector` (anything with ``detect_images(images,
            paths, settings=...)``).
        max_batch: images per forward pass (1 turns batching off).
        max_wait_ms: how long the first job of a batch waits for company.
        max_queue: jobs waiting at most; :meth:`submit` raises :class:`QueueFull` beyond.
        on_batch: called with ``(batch_size, inference_seconds)`` after each batch (metrics).
    """

    def __init__(self, detector: Any, max_batch: int = 8, max_wait_ms: float = 5.0,
                 max_queue: int = 64, on_batch: Optional[Any] = None) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_queue must be >= 1, max_wait_ms >= 0")
        self.detector = detector
        self.max_batch, self.max_wait = int(max_batch), float(max_wait_ms) / 1000.0
        self.max_queue = int(max_queue)
        self.on_batch = on_batch
        self._queue: "queue.Queue[Optional[Job]]" = queue.Queue(maxsize=self.max_queue)
        self._thread = threading.Thread(target=self._run, name="yolov4 batcher", daemon=True)
        self._started = self._stopping = False
        self._lock = threading.Lock()

    @property
    def depth(self) -> int:
        """Jobs waiting (not yet in a batch)."""
        return self._queue.qsize()

    @property
    def full(self) -> bool:
        """``max_queue`` jobs are waiting: :meth:`submit` would raise :class:`QueueFull`."""
        return self._queue.full()

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the jobs already queued, then stop the worker."""
        with self._lock:
            if not self._started:
                return
        self._queue.put(None)  # blocks only while the queue is full: the worker drains it
        self._thread.join(timeout)

    def submit(self, image: np.ndarray, settings: NmsSettings, block: bool = False
               ) -> "Future[Any]":
        """Queue one RGB image; the future resolves to ``(Detections, BatchInfo)``.

        Raises:
            QueueFull: ``max_queue`` jobs are waiting (unless ``block``, which waits for room:
                for the server's own stream source, which must not be refused).
        """
        self.start()
        job = Job(image, settings)
        try:
            self._queue.put(job, block=block)
        except queue.Full:
            raise QueueFull(f"{self.max_queue} requests are waiting") from None
        return job.future

    def _collect(self, first: Job) -> List[Job]:
        jobs = [first]
        deadline = first.queued + self.max_wait
        while len(jobs) < self.max_batch:
            left = deadline - time.perf_counter()
            try:
                job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:  # stop: run what was collected, then end
                self._stopping = True
                break
            jobs.append(job)
        return jobs

    def _run(self) -> None:
        while not self._stopping:
            first = self._queue.get()
            if first is None:
                return
            jobs = [j for j in self._collect(first) if j.future.set_running_or_notify_cancel()]
            if not jobs:
                continue
            start = time.perf_counter()
            try:
                dets = self.detector.detect_images([j.image for j in jobs], [None] * len(jobs),
                                                   settings=[j.settings for j in jobs])
            except Exception as err:  # noqa: BLE001 - every waiting request gets the error
                for j in jobs:
                    j.future.set_exception(err)
                continue
            took = time.perf_counter() - start
            if self.on_batch is not None:
                self.on_batch(len(jobs), took)
            for j, d in zip(jobs, dets):
                j.future.set_result((d, BatchInfo((start - j.queued) * 1000.0, took * 1000.0,
                                                  len(jobs))))
