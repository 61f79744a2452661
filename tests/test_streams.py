"""Live sources: the newest-frame reader drops instead of lagging, reconnects with back-off,
fails clearly; ``detect``/``Detector.stream`` on live sources."""
from __future__ import annotations

import json
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from yolov4.errors import DataError, YoloError
from yolov4.streams import LatestFrameReader, is_live_source, parse_live_source, source_name


class FakeCapture:
    """A camera producing ``frames`` frames, one every ``period`` seconds (0: as fast as read
    is called), each frame's pixel [0, 0, 0] holding its number modulo 256; then it fails."""

    def __init__(self, frames: int, period: float = 0.0, start: int = 0) -> None:
        self.left, self.period, self.n = frames, period, start
        self.released = False

    def read(self):
        if self.left <= 0 or self.released:
            return False, None
        if self.period:
            time.sleep(self.period)
        self.left -= 1
        self.n += 1
        im = np.zeros((4, 4, 3), np.uint8)
        im[0, 0, 0] = self.n % 256
        return True, im

    def get(self, prop):
        return 1000.0 / 2 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        self.released = True


def test_live_source_words():
    assert is_live_source(0) and is_live_source("2") and is_live_source("rtsp://h/x")
    assert is_live_source("HTTPS://h/x.mjpg") and not is_live_source("video.mp4")
    assert not is_live_source(True) and not is_live_source("file://x")
    assert parse_live_source("3") == 3 and parse_live_source("a.mp4") == "a.mp4"
    # credentials never reach messages or file names
    assert source_name("rtsp://user:secret@cam.local:554/s1") == "rtsp://cam.local:554/s1"
    assert source_name(1) == "webcam1"


def test_fast_producer_slow_consumer_drops_instead_of_lagging():
    """A 2 ms camera read by a 50 ms consumer: every read is (nearly) the newest frame, the
    frames in between are dropped and counted; a queue would fall further behind each read."""
    cap = FakeCapture(frames=10_000, period=0.002)
    reader = LatestFrameReader("rtsp://fake/cam", capture_factory=lambda s: cap, reconnect=False)
    lags, indices = [], []
    try:
        for _ in range(8):
            f = reader.read(timeout=5)
            assert f is not None
            lags.append(reader.produced - f.index)     # frames newer than the one handed out
            indices.append(f.index)
            assert int(f.image[0, 0, 0]) == f.index % 256
            time.sleep(0.05)
    finally:
        reader.close()
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    gaps = np.diff(indices)
    assert gaps.min() >= 2, f"frames read back to back: {indices}"   # it skipped frames
    assert max(lags) <= 2, f"reader lags behind the source: {lags}"   # no growing lag
    assert reader.dropped >= sum(g - 1 for g in gaps)
    assert cap.released


def test_reconnects_with_backoff_and_keeps_counting():
    """The stream drops after 3 frames; the first re-open fails, the second works: frames go
    on with increasing numbers, one reconnect counted, waits doubled (0.05 then 0.1 s)."""
    opened, calls = [], []

    def factory(source):
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise DataError("rtsp://fake/cam: cannot open stream")
        cap = FakeCapture(frames=3, period=0.001)
        opened.append(cap)
        return cap

    reader = LatestFrameReader("rtsp://fake/cam", capture_factory=factory,
                               backoff=(0.05, 1.0), realtime=False)
    seen = []
    try:
        deadline = time.monotonic() + 10
        while reader.reconnects < 1 or len(seen) < 2 and time.monotonic() < deadline:
            f = reader.read(timeout=5)
            assert f is not None
            seen.append(f.index)
            if reader.reconnects >= 1 and f.index > 3:
                break
    finally:
        reader.close()
    assert reader.reconnects >= 1 and len(calls) >= 3
    assert seen == sorted(seen) and seen[-1] > 3          # frames after the reconnect
    assert calls[2] - calls[1] >= 0.09                    # the second wait doubled


def test_gives_up_after_max_retries_with_a_clear_error():
    first = [True]

    def factory(source):
        if first[0]:
            first[0] = False
            return FakeCapture(frames=2)
        raise DataError("rtsp://fake/cam: cannot open stream")

    reader = LatestFrameReader("rtsp://fake/cam", capture_factory=factory, backoff=(0.01, 0.02),
                               max_retries=3)
    with pytest.raises(DataError, match="gave up after 3 attempts"):
        for _ in range(10):
            if reader.read(timeout=5) is None:
                break
    reader.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unopenable_sources_fail_at_once(tmp_path):
    with pytest.raises(DataError, match="no such video file"):
        LatestFrameReader(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(DataError, match="cannot open video"):
        LatestFrameReader(bad)
    t = time.monotonic()
    with pytest.raises(DataError, match=r"rtsp://127\.0\.0\.1:\d+/x: cannot open stream"):
        LatestFrameReader(f"rtsp://127.0.0.1:{_closed_port()}/x", timeout=3)
    assert time.monotonic() - t < 15


def write_video(path, frames: int, fps: float = 30.0, source=None, size=(160, 120)):
    """An MJPG .avi: ``source`` (an image) shifted a little per frame, else grey levels."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(frames):
        if source is None:
            im = np.full((size[1], size[0], 3), (i * 7) % 256, np.uint8)
        else:
            im = cv2.resize(np.roll(source, 2 * i, axis=1), size)
        w.write(im)
    w.release()
    return path


def test_video_file_is_paced_like_a_camera_and_can_loop(tmp_path):
    path = write_video(tmp_path / "v.avi", frames=12, fps=40.0)
    t = time.monotonic()
    with LatestFrameReader(path) as reader:           # files are paced: 12 frames at 40 fps
        got = [f.index for f in reader]
    took = time.monotonic() - t
    assert reader.produced == 12 and got[-1] == 12 and took >= 0.25
    with LatestFrameReader(path, loop=True, realtime=False) as reader:
        last = None
        for _ in range(40):
            last = reader.read(timeout=5)
        assert last is not None and last.index > 12    # went on past the end


def test_detector_stream_live_and_predict_refuses(tmp_path):
    from yolov4.models import create_model
    from yolov4.predict import Detector

    torch_net = create_model("yolov4-tiny", classes=3, width=64, height=64)
    det = Detector(torch_net, conf=0.0, max_det=5)
    path = write_video(tmp_path / "v.avi", frames=6, fps=200.0)
    out = list(det.stream(path, live=True))
    frames = [d.frame for d in out]
    assert frames and frames == sorted(frames) and frames[-1] <= 6
    assert all(d.image is not None and d.image_size == (120, 160) for d in out)
    with pytest.raises(YoloError, match="live source never ends"):
        det.predict(0)


def test_detect_cli_live_video(tmp_path, capsys):
    from yolov4.cli import main
    from yolov4.darknet.cfg import write_cfg
    from yolov4.models import create_model

    net = create_model("yolov4-tiny", classes=2, width=64, height=64)
    cfg = tmp_path / "m.cfg"
    write_cfg(net.sections, cfg)
    path = write_video(tmp_path / "cam.avi", frames=30, fps=100.0)
    out = tmp_path / "out"
    code = main(["detect", str(path), "--model", str(cfg), "--live", "--max-frames", "3",
                 "--conf", "0.0", "--max-det", "2", "--out", str(out), "--save-json",
                 str(out / "r.json"), "--quiet"])
    assert code == 0
    records = json.loads((out / "r.json").read_text())
    names = sorted({r["file_name"] for r in records})
    assert 1 <= len(names) <= 3 and all(n.startswith("cam_") for n in names)
    cap = cv2.VideoCapture(str(out / "cam.mp4"))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert n == len(names)


def test_reader_thread_stops_on_close():
    cap = FakeCapture(frames=10**9, period=0.001)
    reader = LatestFrameReader(0, capture_factory=lambda s: cap)
    assert reader.read(timeout=5) is not None
    reader.close()
    assert not any(t.name.startswith("reader webcam0") for t in threading.enumerate())
    assert reader.read(timeout=0.1) is None
