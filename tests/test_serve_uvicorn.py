"""A real ``yolov4 serve`` (uvicorn) on 127.0.0.1 with a generated video as ``--source``: N
MJPEG frames and N objects of Darknet's JSON stream, read as a client reads them."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("uvicorn", reason="the 'serve' extra (pip install -e '.[test]')")

N = 4
W, H = 384, 288


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = 10.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path)
    return conn, conn.getresponse()


@pytest.fixture(scope="module")
def server(shared_darknet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    video = tmp / "street.avi"
    dog = cv2.imread(str(shared_darknet / "images" / "dog.jpg"))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for i in range(20):
        writer.write(cv2.resize(np.roll(dog, 3 * i, axis=1), (W, H)))
    writer.release()
    port, log = free_port(), tmp / "server.log"
    cmd = [sys.executable, "-m", "yolov4", "serve", "--model",
           str(shared_darknet / "cfg" / "yolov4-tiny.cfg"), "--weights",
           str(shared_darknet / "weights" / "yolov4-tiny.weights"), "--size", "320",
           "--port", str(port), "--source", str(video), "--log-level", "warning",
           "--threads", "1"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                conn, r = get(port, "/health", timeout=2)
                if r.status == 200:
                    health = json.loads(r.read())
                    conn.close()
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield {"port": port, "health": health, "log": log, "proc": proc}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_binds_loopback_and_reports_the_stream(server):
    h = server["health"]
    assert h["status"] == "ok" and h["stream"]["source"].endswith("street.avi")
    assert h["input_size"] == [320, 320]
    conn, r = get(server["port"], "/")
    assert r.status == 200 and b'id="file"' in r.read()
    conn.close()


def test_mjpeg_frames(server):
    conn, r = get(server["port"], "/stream.mjpg", timeout=60)
    assert r.status == 200
    ctype = r.getheader("Content-Type")
    assert ctype.startswith("multipart/x-mixed-replace") and "boundary=" in ctype
    boundary = ctype.split("boundary=")[1].encode()
    frames = []
    while len(frames) < N:
        line = r.readline()
        if not line.strip():
            continue
        assert line.strip() == b"--" + boundary
        headers = {}
        while True:
            h = r.readline().strip()
            if not h:
                break
            k, v = h.decode().split(":", 1)
            headers[k.lower()] = v.strip()
        assert headers["content-type"] == "image/jpeg"
        data = r.read(int(headers["content-length"]))
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (H, W, 3)
        frames.append(image)
    conn.close()
    assert len(frames) == N
    # the frames are annotated: boxes in Darknet's class colours differ from the raw video
    assert any(float(np.abs(f.astype(int) - frames[0].astype(int)).mean()) > 0 for f in frames)


def test_json_stream_is_darknets_format(server):
    conn, r = get(server["port"], "/stream.json", timeout=60)
    assert r.status == 200 and r.getheader("Content-Type").startswith("application/json")
    decoder, buf, objects = json.JSONDecoder(), "", []
    assert r.read(2) == b"[\n"                      # an array that never closes
    while len(objects) < N:
        chunk = r.read1(65536)
        assert chunk, "stream closed early"
        buf += chunk.decode()
        while True:
            stripped = buf.lstrip(", \n")
            try:
                obj, end = decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                break
            objects.append(obj)
            buf = stripped[end:]
    conn.close()
    ids = [o["frame_id"] for o in objects]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] >= 1
    names = set()
    for o in objects:
        assert list(o) == ["frame_id", "objects"]
        for det in o["objects"]:
            assert list(det) == ["class_id", "name", "relative_coordinates", "confidence"]
            rc = det["relative_coordinates"]
            assert list(rc) == ["center_x", "center_y", "width", "height"]
            assert all(-0.01 <= v <= 1.01 for v in rc.values())
            assert 0.25 <= det["confidence"] <= 1
            names.add(det["name"])
    assert "dog" in names


def test_detect_over_http_and_metrics(server, shared_darknet):
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=60)
    conn.request("POST", "/detect?conf=0.3", body=(shared_darknet / "images" /
                                                   "dog.jpg").read_bytes(),
                 headers={"Content-Type": "image/jpeg"})
    r = conn.getresponse()
    body = json.loads(r.read())
    assert r.status == 200 and {"dog", "truck"} <= {d["name"] for d in body["detections"]}
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    frames = re.search(r"^yolov4_stream_frames_total (\d+)$", text, re.M)
    assert frames and int(frames.group(1)) >= N
