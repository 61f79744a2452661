"""Pre-processing against Darknet's resize_image (plain-Python port), OpenCV's blobFromImage,
hand-computed letterbox sizes, and the letterbox / un-letterbox round trip."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from yolov4.errors import DataError
from yolov4.preprocess import ImageTransform, as_rgb_image, letterbox_size, load_image, preprocess, resize


def darknet_resize_ref(im: np.ndarray, w: int, h: int) -> np.ndarray:
    """Line-by-line port of Darknet's ``resize_image`` (src/image.c) on a CHW float32 image."""
    c, ih, iw = im.shape
    part = np.zeros((c, ih, w), np.float32)
    w_scale = np.float32(iw - 1) / np.float32(w - 1)
    h_scale = np.float32(ih - 1) / np.float32(h - 1)
    for col in range(w):
        if col == w - 1 or iw == 1:
            part[:, :, col] = im[:, :, iw - 1]
        else:
            sx = np.float32(col * w_scale)
            ix = int(sx)
            dx = np.float32(sx - ix)
            part[:, :, col] = (1 - dx) * im[:, :, ix] + dx * im[:, :, ix + 1]
    out = np.zeros((c, h, w), np.float32)
    for r in range(h):
        sy = np.float32(r * h_scale)
        iy = int(sy)
        dy = np.float32(sy - iy)
        out[:, r] = (1 - dy) * part[:, iy]
        if r == h - 1 or ih == 1:
            continue
        out[:, r] += dy * part[:, iy + 1]
    return out


def _image(h=37, w=53, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [(32, 24), (80, 60), (53, 37)])
def test_darknet_resize_matches_port(size):
    im = _image()
    got = resize(im, size, "darknet").numpy()
    exp = darknet_resize_ref(im.transpose(2, 0, 1).astype(np.float32) / 255, *size)
    assert got.shape == (3, size[1], size[0])
    assert np.abs(got - exp).max() < 1e-5


def test_opencv_resize_matches_blob_from_image():
    im = _image(41, 67)
    got = resize(im, (32, 48), "opencv").numpy()
    blob = cv2.dnn.blobFromImage(im[:, :, ::-1].copy(), 1 / 255.0, (32, 48), swapRB=True, crop=False)
    assert np.abs(got - blob[0]).max() < 1e-6


def test_letterbox_size_hand_values():
    # dog.jpg 768x576 into 416x416: 416/768 < 416/576 -> new_w = 416, new_h = 576*416//768 = 312
    assert letterbox_size((576, 768), (416, 416)) == (416, 312)
    # portrait 500x375 (h x w) into 608: 608/375 > 608/500 -> new_h = 608, new_w = 375*608//500 = 456
    assert letterbox_size((500, 375), (608, 608)) == (456, 608)


def test_letterbox_layout_and_grey_fill():
    im = np.full((576, 768, 3), 255, np.uint8)
    x, t = preprocess(im, (416, 416), letterbox=True)
    assert x.shape == (3, 416, 416)
    assert t.new_size == (312, 416) and t.pad == (52.0, 0.0)
    assert torch.all(x[:, :52] == 0.5) and torch.all(x[:, 52 + 312:] == 0.5)
    # bilinear weights (1 - d) + d need not sum to exactly 1 in float32 (as in Darknet's own
    # resize_image); torch's single-thread kernel gives 1 - 2^-24 at some pixels
    torch.testing.assert_close(x[:, 52:52 + 312], torch.ones(3, 312, 416), rtol=0, atol=1e-6)


def test_letterbox_round_trip_and_geometry():
    # A white rectangle at x 200..400, y 100..300 of a 600x800 (h x w) black image.
    im = np.zeros((600, 800, 3), np.uint8)
    im[100:300, 200:400] = 255
    x, t = preprocess(im, (320, 320), letterbox=True, resize_kind="opencv")
    assert t.new_size == (240, 320) and t.pad == (40.0, 0.0)
    box = torch.tensor([[200.0, 100.0, 400.0, 300.0]])
    inp = t.to_input(box)
    assert torch.allclose(inp, torch.tensor([[80.0, 80.0, 160.0, 160.0]]))  # scale .4, +40 in y
    mask = x[0] > 0.75  # where the rectangle landed in the network input
    ys, xs = torch.nonzero(mask, as_tuple=True)
    found = torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=torch.float32)
    assert torch.allclose(found, inp, atol=1.0)
    assert torch.allclose(t.to_image(found), box, atol=1 / 0.4)  # within one input pixel
    rnd = torch.rand(20, 4) * 500
    assert torch.allclose(t.to_image(t.to_input(rnd)), rnd, atol=1e-3)


def test_plain_resize_transform_scales_boxes():
    t = ImageTransform((576, 768), (416, 416), (416, 416))
    assert torch.allclose(t.to_image(torch.tensor([[0.0, 0.0, 416.0, 208.0]])),
                          torch.tensor([[0.0, 0.0, 768.0, 288.0]]))


def test_darknet_odd_pad_is_float_like_correct_yolo_boxes():
    # a 64x51 (h x w) image into 64x64: new_w = 51*64//64 = 51, pasted at x = 13//2 = 6, but
    # correct_yolo_boxes maps back with (64 - 51) / 2. = 6.5
    _, t = preprocess(np.zeros((64, 51, 3), np.uint8), (64, 64), letterbox=True)
    assert t.new_size == (64, 51) and t.pad == (0.0, 6.5)


def test_load_image_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing.jpg"):
        load_image(tmp_path / "missing.jpg")
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(DataError, match="corrupt.jpg"):
        load_image(bad)
    good = tmp_path / "ok.png"
    im = _image(8, 9)
    cv2.imwrite(str(good), im)  # written as BGR
    assert np.array_equal(load_image(good), im[:, :, ::-1])


def test_as_rgb_image_channels():
    bgr = _image(5, 6)
    assert np.array_equal(as_rgb_image(bgr, rgb=False), bgr[:, :, ::-1])
    assert np.array_equal(as_rgb_image(bgr, rgb=True), bgr)
    assert as_rgb_image(bgr[:, :, 0]).shape == (5, 6, 3)
    with pytest.raises(DataError):
        as_rgb_image(np.zeros((5, 6, 2), np.uint8))
