"""Inference API: ``Detector`` (model + pre/post-processing) and per-image ``Detections``.

``Detector`` is built from a model-zoo name (``yolov4.create_model``), a Darknet ``.cfg`` path
(plus ``.weights``), or a ``Darknet`` module. ``predict(source)`` accepts:

- a path to an image, a directory (its images, sorted), a glob pattern, or a video file;
- a live source: a webcam index (``0``) or a stream URL (``rtsp://``, ``http(s)://``, ...),
  read by :meth:`Detector.stream_live` (newest frame first, reconnecting; use ``stream``);
- a list of paths;
- a numpy image ``np.ndarray[H, W, 3]`` uint8, **BGR by default like ``cv2.imread``**
  (pass ``rgb=True`` for RGB arrays), a list of them, or a batch ``np.ndarray[B, H, W, 3]``.

Each image gives a :class:`Detections` with ``boxes: Tensor[N, 4]`` xyxy pixels of the
original image, ``scores: Tensor[N]`` (objectness × class probability), ``class_ids:
Tensor[N]`` int64 (0-based), ``names``, ``path`` and ``image_size = (h, w)``.
``stream(source)`` yields them lazily (for videos, one per frame with the frame attached).

Defaults follow the cfg as ``darknet detector test`` does: input size ``[net] width/height``,
letterbox ``[net] letter_box``, NMS kind and ``beta`` from the last ``[yolo]`` section
(``nms_kind``, ``beta_nms``), Darknet's bilinear resize; conf 0.25 and IoU 0.45.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from .detections import Detections
from .errors import DataError, WeightsError, YoloError
from .names import default_names, read_names
from .postprocess import NmsSettings, nms_settings_from_sections, postprocess
from .preprocess import RESIZE_KINDS, ImageTransform, as_rgb_image, load_image, preprocess
from .runtime.runner import ENGINES, Runner, check_engine_options, make_runner  # noqa: F401
from .sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, is_video, open_video, resolve_images  # noqa: F401
from .streams import LatestFrameReader, is_live_source

PathLike = Union[str, "os.PathLike[str]"]
Size = Union[int, Tuple[int, int], Sequence[int]]


def _input_size(size: Optional[Size], net: nn.Module) -> Tuple[int, int]:
    if size is None:
        w, h = int(getattr(net, "width", 416)), int(getattr(net, "height", 416))
    elif isinstance(size, int):
        w, h = size, size
    else:
        vals = [int(v) for v in size]
        if len(vals) == 1:
            vals = vals * 2
        if len(vals) != 2:
            raise YoloError(f"size must be N or (width, height), got {size}")
        w, h = vals
    stride = int(getattr(net, "stride", 32) or 32)
    if w <= 0 or h <= 0 or w % stride or h % stride:
        raise YoloError(f"input size {w}x{h} (WxH): each side must be a positive multiple of "
                        f"the network stride {stride}")
    return w, h


def load_network(model: Union[str, PathLike, nn.Module], weights: Optional[PathLike] = None,
                 classes: Optional[int] = None) -> nn.Module:
    """A ``Darknet`` from a model-zoo name, a ``.cfg`` path or a module, with ``weights``
    (Darknet ``.weights`` or a ``.pt`` state dict) loaded.

    Raises:
        YoloError: missing cfg; WeightsError: missing or non-fitting weights file.
    """
    if isinstance(model, nn.Module):
        net = model
    else:
        spec = os.fspath(model)
        if spec.endswith(".cfg") or os.path.isfile(spec):
            from .darknet.graph import Darknet  # noqa: WPS433 (lazy: heavy import)

            if not os.path.isfile(spec):
                raise YoloError(f"{spec}: cfg file not found")
            net = Darknet.from_cfg(spec, classes=classes)
        else:
            from .models import create_model

            kwargs = {} if classes is None else {"classes": classes}
            net = create_model(spec, **kwargs)
    if weights is not None:
        w = os.fspath(weights)
        if not os.path.isfile(w):
            raise WeightsError(f"{w}: weights file not found")
        if w.endswith((".pt", ".pth")):
            state = torch.load(w, map_location="cpu", weights_only=True)
            state = state.get("model", state) if isinstance(state, dict) else state
            try:
                net.load_state_dict(state)
            except (RuntimeError, KeyError) as err:
                raise WeightsError(f"{w}: does not fit the model ({str(err).splitlines()[0]})")
        else:
            net.load_weights(w)
    return net


class Detector:
    """A detection model with its pre- and post-processing.

    Args:
        model: model-zoo name, ``.cfg`` path, or a ``Darknet`` module.
        weights: Darknet ``.weights`` (or a ``.pt`` state dict) to load.
        names: class names or a ``.names`` file (must match the model's class count);
            default COCO for 80 classes.
        size: input ``N`` or ``(width, height)``; default the cfg's ``[net]`` size.
        conf: score threshold. iou: NMS threshold.
        nms: ``greedy`` | ``diou`` | ``soft-linear`` | ``soft-gaussian``; default from the cfg
            (``nms_kind=greedynms`` is Darknet's DIoU test with exponent 0.6).
        letterbox: default the cfg's ``[net] letter_box``.
        device: ``"cpu"`` or ``"cuda"``.
        beta: DIoU exponent (default the cfg's ``beta_nms``, 0.6 for ``greedynms``).
        resize: ``"darknet"`` (Darknet's bilinear) or ``"opencv"`` (``cv2.resize``).
        agnostic, max_det, multi_label, sigma: see :class:`yolov4.postprocess.NmsSettings`.
        fuse: fold BatchNorm into convolutions for inference (Darknet does too).
        classes: override the cfg's class count (cfg/name models only).
        optimize: CPU speed-ups of :func:`yolov4.runtime.optimize.optimize_for_inference`
            (fast Mish, channels-last, pre-packed oneDNN convs with fused activations, Winograd
            where measured faster; fp32 results equal within ~1e-5).
        bf16: run the network in bfloat16 (reduced precision; CPUs with AVX512-BF16/AMX):
            with ``optimize`` in torch (~1.6x faster again, the box decode stays fp32), or with
            ``engine="openvino"`` as OpenVINO's inference precision.
        engine: ``"torch"`` (default) or ``"openvino"``: the network compiled by OpenVINO for
            the CPU (:class:`yolov4.runtime.openvino.OpenVinoRunner`; optional dependency; the
            fastest CPU path for Mish models, see ``benchmarks/RESULTS.md``). Pre- and
            post-processing are the same for both.
        calibration: with ``engine="openvino"``: images (path, directory, glob or list of
            paths) to calibrate int8 quantisation with NNCF (optional package ``nncf``); a few
            dozen of the target domain. Selects int8.

    Attributes:
        net: the network; runner: the engine that runs it (see :mod:`yolov4.runtime.runner`:
            ``runner(Tensor[B, 3, H, W] float32)`` -> decoded float32 outputs), chosen by
            :func:`yolov4.runtime.runner.make_runner`.
    """

    def __init__(self, model: Union[str, PathLike, nn.Module], weights: Optional[PathLike] = None,
                 *, names: Union[None, PathLike, Sequence[str]] = None, size: Optional[Size] = None,
                 conf: float = 0.25, iou: float = 0.45, nms: Optional[str] = None,
                 letterbox: Optional[bool] = None, device: Union[str, torch.device] = "cpu",
                 beta: Optional[float] = None, resize: str = "darknet", agnostic: bool = False,
                 max_det: Optional[int] = 300, multi_label: bool = True, sigma: float = 0.5,
                 fuse: bool = True, classes: Optional[int] = None,
                 optimize: bool = False, bf16: bool = False, engine: str = "torch",
                 calibration: Any = None) -> None:
        dev = torch.device(device)
        check_engine_options(engine, dev, optimize=optimize, bf16=bf16, calibration=calibration)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise YoloError("device 'cuda' requested but CUDA is not available")
        if resize not in RESIZE_KINDS:
            raise YoloError(f"resize must be one of {RESIZE_KINDS}, got '{resize}'")
        net = load_network(model, weights, classes)
        net.eval()
        if fuse and hasattr(net, "fuse"):
            net.fuse()
        self.net = net.to(dev)
        self.device = dev
        yolos = list(getattr(net, "yolo_layers", []))
        if not yolos:
            raise YoloError("the model has no [yolo] layer")
        self.classes = int(yolos[-1].classes)
        if names is None:
            self.names = default_names(self.classes)
        elif isinstance(names, (str, os.PathLike)):
            self.names = read_names(names, self.classes)
        else:
            self.names = [str(n) for n in names]
            if len(self.names) != self.classes:
                raise DataError(f"names: {len(self.names)} given but the model has "
                                f"{self.classes} classes")
        self.width, self.height = _input_size(size, net)
        self.engine = engine
        sections = getattr(net, "sections", [])
        cfg_kind, cfg_beta = nms_settings_from_sections(sections)
        kind = cfg_kind if nms is None else nms
        if beta is None:
            beta = cfg_beta
        if letterbox is None:
            letterbox = bool(sections[0].get_int("letter_box", 0)) if sections else False
        self.letterbox = bool(letterbox)
        self.resize = resize
        try:
            self.settings = NmsSettings(conf=conf, iou=iou, kind=kind, beta=beta, sigma=sigma,
                                        agnostic=agnostic, max_det=max_det,
                                        multi_label=multi_label)
        except ValueError as err:
            raise YoloError(str(err)) from None
        # last: the runner is built once the pre-processing is known (int8 calibrates with it)
        self.runner: Runner = make_runner(self.net, engine, (self.width, self.height),
                                          optimize=optimize, bf16=bf16, calibration=calibration,
                                          letterbox=self.letterbox, resize=self.resize)

    # ------------------------------------------------------------------ core
    def preprocess(self, images: Sequence[np.ndarray]) -> Tuple[Tensor, List[ImageTransform]]:
        """RGB uint8 images (any sizes) -> the network input ``Tensor[B, 3, h, w]`` on the
        detector's device (float32 [0, 1]) and each image's :class:`ImageTransform`."""
        inputs, transforms = [], []
        for im in images:
            x, t = preprocess(im, (self.width, self.height), letterbox=self.letterbox,
                              resize_kind=self.resize)
            inputs.append(x)
            transforms.append(t)
        return torch.stack(inputs).to(self.device), transforms

    def forward(self, batch: Tensor) -> List[Tensor]:
        """The engine (:attr:`runner`) on a batch ``Tensor[B, 3, h, w]`` float32 from
        :meth:`preprocess`: one decoded float32 ``Tensor[B, A, H, W, 5 + C]`` per [yolo] layer
        (cx, cy, w, h as fractions of the input, objectness, class probabilities)."""
        return self.runner(batch)

    def postprocess(self, outputs: List[Tensor], transforms: Sequence[ImageTransform]
                    ) -> List[Tuple[Tensor, Tensor, Tensor]]:
        """Score threshold and NMS (the detector's settings), boxes mapped to image pixels:
        per image ``(boxes Tensor[N, 4] xyxy, scores Tensor[N], class_ids Tensor[N])``."""
        return postprocess(outputs, list(transforms), self.settings)

    @torch.inference_mode()
    def detect_images(self, images: Sequence[np.ndarray], paths: Sequence[Optional[str]],
                      keep_images: bool = False,
                      frames: Optional[Sequence[Optional[int]]] = None,
                      settings: Optional[Sequence[NmsSettings]] = None) -> List[Detections]:
        """Run one batch of RGB uint8 images (any sizes) -> one :class:`Detections` each.

        ``settings``: per-image thresholds (default: the detector's :attr:`settings`)."""
        if not images:
            return []
        batch, transforms = self.preprocess(images)
        results = postprocess(self.forward(batch), transforms,
                              self.settings if settings is None else settings)
        dets = []
        for i, (boxes, scores, ids) in enumerate(results):
            dets.append(Detections(boxes.cpu(), scores.cpu(), ids.cpu(), self.names, paths[i],
                                   transforms[i].image_size,
                                   frame=None if frames is None else frames[i],
                                   image=images[i] if keep_images else None))
        return dets

    def predict(self, source: Any, *, rgb: bool = False, batch_size: int = 8,
                on_error: str = "raise") -> List[Detections]:
        """Detections for every image (or video frame) of ``source``; see the module docstring.

        Args:
            rgb: numpy inputs are RGB (default: BGR, as ``cv2.imread`` returns).
            on_error: ``"raise"`` or ``"warn"`` (skip unreadable files of a list/directory).
        """
        if is_live_source(source):
            raise YoloError(f"{source}: a live source never ends; iterate Detector.stream() "
                            f"over it instead of predict()")
        return list(self.stream(source, rgb=rgb, batch_size=batch_size, on_error=on_error))

    def __call__(self, source: Any, **kwargs: Any) -> List[Detections]:
        return self.predict(source, **kwargs)

    def stream(self, source: Any, *, rgb: bool = False, batch_size: int = 8,
               on_error: str = "raise", live: bool = False) -> Iterator[Detections]:
        """Lazily yield :class:`Detections`; videos are read frame by frame (frame attached).

        A webcam index or stream URL (or any video with ``live=True``) is read as a live stream
        by :meth:`stream_live`: always the newest frame, never a growing lag."""
        if on_error not in ("raise", "warn"):
            raise ValueError("on_error must be 'raise' or 'warn'")
        if isinstance(source, np.ndarray):
            arrays = list(source) if source.ndim == 4 else [source]
            ims = [as_rgb_image(a, rgb, f"image[{i}]") for i, a in enumerate(arrays)]
            for s in range(0, len(ims), batch_size):
                yield from self.detect_images(ims[s:s + batch_size], [None] * len(ims[s:s + batch_size]),
                                              keep_images=True)
            return
        if isinstance(source, (list, tuple)) and source and all(
                isinstance(a, np.ndarray) for a in source):
            ims = [as_rgb_image(a, rgb, f"image[{i}]") for i, a in enumerate(source)]
            for s in range(0, len(ims), batch_size):
                yield from self.detect_images(ims[s:s + batch_size], [None] * len(ims[s:s + batch_size]),
                                              keep_images=True)
            return
        if live or is_live_source(source):
            yield from self.stream_live(source)
            return
        if isinstance(source, (str, os.PathLike)) and is_video(source):
            yield from self.stream_video(source, batch_size=batch_size)
            return
        paths = resolve_images(source)
        for s in range(0, len(paths), batch_size):
            ims, ps = [], []
            for p in paths[s:s + batch_size]:
                try:
                    ims.append(load_image(p))
                    ps.append(p)
                except DataError as err:
                    if on_error == "raise":
                        raise
                    warnings.warn(f"skipped: {err}", stacklevel=2)
            yield from self.detect_images(ims, ps)

    def stream_live(self, source: Any, **reader_options: Any) -> Iterator[Detections]:
        """Detections of a live source (webcam index, stream URL, or a video file paced at its
        frame rate), one per frame processed: a :class:`yolov4.streams.LatestFrameReader`
        hands over the newest frame each time, frames that arrived meanwhile are dropped
        (``Detections.frame`` is the source's frame number, so gaps show them). Ends with the
        video, or when the caller stops iterating; ``reader_options`` go to the reader
        (``loop``, ``reconnect``, ``backoff``, ``max_retries``, ``timeout``)."""
        with LatestFrameReader(source, **reader_options) as reader:
            for f in reader:
                rgb = cv2.cvtColor(f.image, cv2.COLOR_BGR2RGB)
                yield from self.detect_images([rgb], [reader.name], keep_images=True,
                                              frames=[f.index])

    def stream_video(self, path: PathLike, batch_size: int = 1) -> Iterator[Detections]:
        """Yield one :class:`Detections` per frame of a video (RGB frame attached)."""
        p = os.fspath(path)
        cap = open_video(p)
        frame_index = 0
        try:
            while True:
                ims, frames = [], []
                while len(ims) < batch_size:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    ims.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                    frames.append(frame_index)
                    frame_index += 1
                if not ims:
                    break
                yield from self.detect_images(ims, [p] * len(ims), keep_images=True,
                                              frames=frames)
        finally:
            cap.release()
        if frame_index == 0:
            raise DataError(f"{p}: video has no readable frames")
