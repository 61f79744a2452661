"""``yolov4 serve`` through FastAPI's test client: detections equal ``Detector.predict``,
micro-batches equal single images, the 400/413/422/503 paths, Darknet's JSON-stream format,
health and Prometheus metrics."""
from __future__ import annotations

import re
import threading
import time

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="the 'serve' extra (pip install -e '.[test]')")
from fastapi.testclient import TestClient  # noqa: E402

from yolov4.postprocess import NmsSettings  # noqa: E402
from yolov4.predict import Detections, Detector  # noqa: E402
from yolov4.serve import ServeSettings, create_app  # noqa: E402
from yolov4.serve.batcher import MicroBatcher  # noqa: E402
from yolov4.serve.formats import darknet_frame_json, detections_json  # noqa: E402


@pytest.fixture(scope="module")
def detector(shared_darknet):
    return Detector(shared_darknet / "cfg" / "yolov4-tiny.cfg",
                    shared_darknet / "weights" / "yolov4-tiny.weights")


@pytest.fixture(scope="module")
def client(detector):
    with TestClient(create_app(detector, ServeSettings(max_upload_mb=1.0),
                               model_name="yolov4-tiny")) as c:
        yield c


def _dog(shared_darknet) -> bytes:
    return (shared_darknet / "images" / "dog.jpg").read_bytes()


def _expected(detector, path, **settings):
    if settings:
        old = detector.settings
        detector.settings = NmsSettings(**{**old.__dict__, **settings})
        try:
            return detections_json(detector.predict(path)[0])
        finally:
            detector.settings = old
    return detections_json(detector.predict(path)[0])


def test_detect_equals_predict_raw_and_multipart(client, detector, shared_darknet):
    path = shared_darknet / "images" / "dog.jpg"
    want = _expected(detector, path)
    assert {"dog", "bicycle", "truck"} <= {d["name"] for d in want}
    raw = client.post("/detect", content=_dog(shared_darknet))
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert body["detections"] == want
    assert body["image"] == {"width": 768, "height": 576}
    assert set(body["timings_ms"]) == {"decode", "queue", "inference", "total"}
    form = client.post("/detect", files={"image": ("dog.jpg", _dog(shared_darknet),
                                                   "image/jpeg")})
    assert form.status_code == 200 and form.json()["detections"] == want
    for d in want:   # the two box forms agree
        x1, y1, x2, y2 = d["xyxy"]
        assert d["xywh"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.011)


def test_query_thresholds_equal_the_detector_with_them(client, detector, shared_darknet):
    path = shared_darknet / "images" / "dog.jpg"
    r = client.post("/detect?conf=0.5&iou=0.3&max_det=2", content=_dog(shared_darknet))
    assert r.status_code == 200
    assert r.json()["detections"] == _expected(detector, path, conf=0.5, iou=0.3, max_det=2)
    assert len(r.json()["detections"]) == 2
    low = client.post("/detect?conf=0.05", content=_dog(shared_darknet)).json()["detections"]
    assert low == _expected(detector, path, conf=0.05) and len(low) > 4


@pytest.mark.parametrize("query, needle", [("conf=1.5", "conf"), ("iou=-0.1", "iou"),
                                           ("max_det=0", "max_det"), ("conf=abc", "conf")])
def test_out_of_bounds_parameters_422_one_line(client, shared_darknet, query, needle):
    r = client.post(f"/detect?{query}", content=_dog(shared_darknet))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and needle in detail


def test_bad_bodies_400_with_reason(client):
    r = client.post("/detect", content=b"GIF89a not really")
    assert r.status_code == 400 and "not an image OpenCV can decode (17 bytes" in r.json()["detail"]
    r = client.post("/detect", content=b"")
    assert r.status_code == 400 and "empty body" in r.json()["detail"]
    r = client.post("/detect", data={"note": "no file"}, files={})
    assert r.status_code == 400
    r = client.post("/detect", content=b"--x\r\nbroken",
                    headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400 and "\n" not in r.json()["detail"]


def test_upload_limits_413(client, shared_darknet):
    big = b"\xff\xd8" + bytes(2 * 1024 * 1024)   # 2 MiB against a 1 MiB limit
    r = client.post("/detect", content=big)
    assert r.status_code == 413 and "exceeds the limit of 1048576 bytes" in r.json()["detail"]

    def chunks():   # no Content-Length: refused while reading
        for _ in range(40):
            yield bytes(64 * 1024)

    r = client.post("/detect", content=chunks())
    assert r.status_code == 413
    # a small file that decodes to too many pixels
    png = cv2.imencode(".png", np.zeros((2000, 2100, 3), np.uint8))[1].tobytes()
    assert len(png) < 1024 * 1024
    app = create_app(_tiny_detector(), ServeSettings(max_pixels=4_000_000))
    with TestClient(app) as c:
        r = c.post("/detect", content=png)
    assert r.status_code == 413 and "2100x2000 exceeds the limit of 4000000 pixels" in \
        r.json()["detail"]


def _tiny_detector() -> Detector:
    from yolov4.models import create_model

    torch.manual_seed(0)
    return Detector(create_model("yolov4-tiny", classes=3, width=64, height=64), conf=0.0,
                    max_det=5)


class BlockingDetector:
    """Wraps a detector; ``detect_images`` waits until ``release`` is set."""

    def __init__(self, inner: Detector) -> None:
        self.inner, self.release, self.entered = inner, threading.Event(), threading.Event()
        for name in ("settings", "names", "net", "engine", "classes", "width", "height"):
            setattr(self, name, getattr(inner, name))

    def detect_images(self, *args, **kwargs):
        self.entered.set()
        assert self.release.wait(30)
        return self.inner.detect_images(*args, **kwargs)


def test_full_queue_503_with_retry_after():
    det = BlockingDetector(_tiny_detector())
    app = create_app(det, ServeSettings(max_batch=1, max_queue=2))
    png = cv2.imencode(".png", np.full((40, 50, 3), 128, np.uint8))[1].tobytes()
    with TestClient(app) as c:
        batcher = app.state.batcher
        image = np.zeros((40, 50, 3), np.uint8)
        first = batcher.submit(image, det.settings)          # the worker takes it and blocks
        assert det.entered.wait(10)
        queued = [batcher.submit(image, det.settings) for _ in range(2)]   # the queue is full
        t = time.monotonic()
        r = c.post("/detect", content=png)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "server busy" in r.json()["detail"] and time.monotonic() - t < 5
        det.release.set()
        for f in [first] + queued:
            d, info = f.result(timeout=30)
            assert isinstance(d, Detections) and info.batch_size == 1
        assert c.post("/detect", content=png).status_code == 200   # room again
        text = c.get("/metrics").text
    assert 'yolov4_requests_total{route="/detect",code="503"} 1' in text


def test_full_queue_refuses_before_decoding(monkeypatch):
    """With the queue full, /detect answers 503 without decoding the body (a body that is no
    image gets 503, not 400, and decode_image is never called): refusals cost no CPU."""
    import yolov4.serve.app as app_module

    det = BlockingDetector(_tiny_detector())
    app = create_app(det, ServeSettings(max_batch=1, max_queue=1))
    decoded = []
    real_decode = app_module.decode_image
    monkeypatch.setattr(app_module, "decode_image",
                        lambda *a: decoded.append(1) or real_decode(*a))
    with TestClient(app) as c:
        batcher = app.state.batcher
        image = np.zeros((40, 50, 3), np.uint8)
        first = batcher.submit(image, det.settings)
        assert det.entered.wait(10)
        queued = batcher.submit(image, det.settings)
        assert batcher.full
        r = c.post("/detect", content=b"not an image")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "1 requests are waiting" in r.json()["detail"] and not decoded
        det.release.set()
        for f in (first, queued):
            f.result(timeout=30)
        assert not batcher.full
        assert c.post("/detect", content=b"not an image").status_code == 400 and decoded


def test_serve_cli_caps_malloc_arenas(monkeypatch):
    from yolov4.cli.serve import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False          # the user's setting wins
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert limit_malloc_arenas() is True


def test_micro_batches_equal_single_images(detector, shared_darknet):
    """Images of different sizes and thresholds collected into one forward pass give what each
    gives alone."""
    paths = [shared_darknet / "images" / n for n in ("dog.jpg", "horses.jpg", "person.jpg",
                                                     "eagle.jpg")]
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    settings = [detector.settings, NmsSettings(**{**detector.settings.__dict__, "conf": 0.5}),
                detector.settings, NmsSettings(**{**detector.settings.__dict__, "max_det": 1})]
    batcher = MicroBatcher(detector, max_batch=8, max_wait_ms=2000, max_queue=8)
    futures = [batcher.submit(im, s) for im, s in zip(images, settings)]
    results = [f.result(timeout=120) for f in futures]
    batcher.stop()
    assert [info.batch_size for _, info in results] == [4, 4, 4, 4]
    for (d, _), im, s in zip(results, images, settings):
        alone = detector.detect_images([im], [None], settings=[s])[0]
        assert torch.equal(d.class_ids, alone.class_ids)
        torch.testing.assert_close(d.boxes, alone.boxes, atol=1e-3, rtol=0)
        torch.testing.assert_close(d.scores, alone.scores, atol=1e-5, rtol=0)


def test_darknet_json_frame_format():
    """Character for character what Darknet's detection_to_json prints (src/network.c:
    sprintf with %f; ``dont_show`` classes left out)."""
    d = Detections(boxes=torch.tensor([[10.0, 20.0, 110.0, 70.0], [0.0, 0.0, 50.0, 25.0]]),
                   scores=torch.tensor([0.9, 0.5]), class_ids=torch.tensor([1, 0]),
                   names=["dont_show_cat", "dog"], path=None, image_size=(100, 200))
    text = darknet_frame_json(d, 7, ["dont_show_cat", "dog"])
    assert text == ('{\n "frame_id":7, \n "objects": [ \n'
                    '  {"class_id":1, "name":"dog", "relative_coordinates":{"center_x":0.300000,'
                    ' "center_y":0.450000, "width":0.500000, "height":0.500000},'
                    ' "confidence":0.900000}'
                    '\n ] \n}')
    empty = Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                       ["a"], None, (10, 10))
    assert darknet_frame_json(empty, 1, ["a"]) == '{\n "frame_id":1, \n "objects": [ \n\n ] \n}'


# Prometheus text format 0.0.4: metric names, label pairs, a float (or NaN) per sample
PROM_LINE = re.compile(r'^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|[a-zA-Z_:][a-zA-Z0-9_:]*'
                       r'(\{[a-zA-Z_]\w*="[^"]*"(,[a-zA-Z_]\w*="[^"]*")*\})? '
                       r'(-?[0-9.e+-]+|NaN))$')


def test_health_metrics_page_and_no_stream(client, shared_darknet):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["model"] == "yolov4-tiny" and h["classes"] == 80
    assert h["input_size"] == [416, 416] and h["stream"] is None
    client.post("/detect", content=_dog(shared_darknet))
    text = client.get("/metrics").text
    lines = text.strip().splitlines()
    assert all(PROM_LINE.match(line) for line in lines), [x for x in lines
                                                          if not PROM_LINE.match(x)]
    assert re.search(r'yolov4_requests_total\{route="/detect",code="200"\} [1-9]', text)
    assert 'yolov4_request_seconds{route="/detect",quantile="0.99"}' in text
    summary = client.get("/metrics?format=json").json()
    assert summary["batch"]["batches"] >= 1 and summary["latency_ms"]["/detect"]["count"] >= 1
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text
    # no build step, no external assets
    assert "<script src" not in page.text and "<link" not in page.text
    assert "http://" not in page.text and "https://" not in page.text
    for route in ("/stream.mjpg", "/stream.json"):
        r = client.get(route)
        assert r.status_code == 404 and "--source" in r.json()["detail"]


def test_percentile_matches_numpy():
    from yolov4.serve.metrics import percentile

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        v = rng.random(n).tolist()
        for q in (0.5, 0.9, 0.99):
            assert percentile(v, q) == pytest.approx(float(np.percentile(v, q * 100)))
