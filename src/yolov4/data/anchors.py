"""Anchor boxes by k-means on a dataset's box sizes with 1 - IoU distance (Darknet's
``calc_anchors``), and writing them into a cfg's ``[yolo]`` sections.

Darknet (``src/detector.c: calc_anchors``, ``src/matrix.c: do_kmeans``): the points are every
label's ``(w * width, h * height)`` with ``w, h`` relative to the image, i.e. box sizes at the
network size, no augmentation; distance ``1 - IoU`` of corner-aligned boxes; assignment + mean
update until the assignment stops changing (at most 1000 rounds); an empty cluster keeps its
centre; centres sorted by area. **Deviation:** Darknet seeds from ``time()`` and takes K random
points; here the start is k-means++ (on 1 - IoU) from ``seed`` and the best of ``restarts``
runs (highest mean best IoU) is kept, so results are deterministic and less often stuck.
"""
from __future__ import annotations

import os
from typing import List, Sequence, Tuple

import numpy as np
import torch

from ..darknet.cfg import Section, read_cfg, write_cfg
from ..darknet.yolo_settings import YoloSettings
from ..errors import CfgError, DataError
from ..ops.boxes import wh_iou
from .dataset import DetectionDataset


#: An anchor can reach a box when neither side differs by more than this factor (the usual
#: best-possible-recall rule of PyTorch YOLO trainers; Darknet itself has no such check).
ANCHOR_RATIO = 4.0
#: ``anchors=auto`` re-fits the anchors when fewer boxes than this are reachable.
MIN_BPR = 0.98


def box_sizes(dataset: DetectionDataset, width: int, height: int,
              limit: int = 0) -> np.ndarray:
    """Every non-crowd box of ``dataset`` as ``float64[N, 2]`` (w, h) scaled to a
    ``width x height`` network: ``(w / image_w * width, h / image_h * height)``.
    ``limit`` > 0: only that many images, evenly spread over the dataset."""
    out: List[np.ndarray] = []
    n = len(dataset)
    indices = (range(n) if not limit or limit >= n
               else np.linspace(0, n - 1, limit).round().astype(int).tolist())
    for i in indices:
        ann = dataset.annotations(i)
        if ann.image_size is None or len(ann.boxes) == 0:
            continue
        ih, iw = ann.image_size
        wh = (ann.boxes[:, 2:] - ann.boxes[:, :2]).astype(np.float64)[~ann.iscrowd]
        out.append(wh * np.array([width / iw, height / ih]))
    return np.concatenate(out) if out else np.zeros((0, 2))


def _iou(wh: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return wh_iou(torch.from_numpy(wh), torch.from_numpy(centres)).numpy()


def _kmeans_once(wh: np.ndarray, n: int, rng: np.random.Generator, iters: int) -> np.ndarray:
    centres = wh[[rng.integers(len(wh))]]
    while len(centres) < n:  # k-means++: pick with probability ~ (1 - IoU)^2
        d = (1 - _iou(wh, centres).max(1)) ** 2
        total = d.sum()
        pick = rng.choice(len(wh), p=d / total) if total > 0 else rng.integers(len(wh))
        centres = np.concatenate([centres, wh[[pick]]])
    assign = None
    for _ in range(iters):
        new = _iou(wh, centres).argmax(1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        for k in range(n):
            members = wh[assign == k]
            if len(members):
                centres[k] = members.mean(0)
    return centres


def mean_best_iou(wh: np.ndarray, anchors: np.ndarray) -> float:
    """Mean over boxes ``float[N, 2]`` of the best IoU with any anchor ``float[K, 2]``."""
    if len(wh) == 0:
        return 0.0
    return float(_iou(np.asarray(wh, np.float64), np.asarray(anchors, np.float64)).max(1).mean())


def anchor_fit(wh: np.ndarray, anchors: np.ndarray,
               ratio: float = ANCHOR_RATIO) -> Tuple[float, float]:
    """How well ``anchors`` ``float[K, 2]`` fit box sizes ``float[N, 2]`` (network pixels).

    Returns ``(best possible recall, mean best IoU)``: the fraction of boxes for which some
    anchor is within a factor ``ratio`` in both width and height, and the mean over boxes of
    the best corner-aligned IoU (:func:`mean_best_iou`). Both 0 without boxes."""
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(1)]
    if len(wh) == 0:
        return 0.0, 0.0
    a = np.asarray(anchors, np.float64).reshape(-1, 2)
    r = wh[:, None, :] / a[None]
    worst = np.maximum(r, 1 / r).max(2)          # [N, K]: the larger side factor per anchor
    bpr = float((worst.min(1) < ratio).mean())
    return bpr, mean_best_iou(wh, a)


def kmeans_anchors(wh: np.ndarray, n: int = 9, *, seed: int = 0, iters: int = 1000,
                   restarts: int = 5) -> Tuple[np.ndarray, float]:
    """K-means anchors of box sizes.

    Args:
        wh: ``float[N, 2]`` box sizes in network pixels (:func:`box_sizes`).
        n: number of anchors.
        seed: makes the result deterministic.
        iters: maximum assignment rounds per run (Darknet: 1000).
        restarts: independent k-means++ starts; the best mean IoU wins.

    Returns:
        ``(anchors float64[n, 2] sorted by area ascending, mean best IoU)``.
    """
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(1)]
    if n < 1:
        raise DataError(f"number of anchors must be >= 1, got {n}")
    if len(np.unique(wh, axis=0)) < n:
        raise DataError(f"{len(wh)} boxes ({len(np.unique(wh, axis=0))} distinct sizes) are too "
                        f"few for {n} anchors")
    rng = np.random.default_rng(seed)
    best, best_iou = None, -1.0
    for _ in range(max(1, restarts)):
        centres = _kmeans_once(wh, n, rng, iters)
        score = mean_best_iou(wh, centres)
        if score > best_iou:
            best, best_iou = centres, score
    assert best is not None
    best = best[np.argsort(best.prod(1), kind="stable")]
    return best, best_iou


def format_anchors(anchors: np.ndarray, network_width: int = 608) -> str:
    """Darknet's ``anchors.txt`` text: ``w,h`` pairs joined by ``", "``, whole pixels
    (4 decimals when the network is 32 px wide or less, as ``calc_anchors`` prints)."""
    fmt = "{:.4f}" if network_width <= 32 else "{:.0f}"
    return ", ".join(f"{fmt.format(w)},{fmt.format(h)}" for w, h in np.asarray(anchors))


def set_anchors(sections: Sequence[Section], anchors: np.ndarray, network_width: int = 608
                ) -> List[Section]:
    """Write ``anchors`` into every ``[yolo]`` section (``anchors=``, ``num=``).

    When the count changes, masks are redistributed: layers keep their order by smallest mask
    index and get equal consecutive chunks, and the ``filters`` of the convolution feeding each
    ``[yolo]`` become ``(classes + 5) * len(mask)``. Raises CfgError when there is no ``[yolo]``
    or the anchors cannot be split evenly.
    """
    n = len(anchors)
    yolo = [k for k, s in enumerate(sections) if s.type == "yolo"]
    if not yolo:
        raise CfgError(f"{sections[0].source if sections else '<cfg>'}: no [yolo] section")
    text = format_anchors(anchors, network_width)
    settings = [YoloSettings.from_section(sections[k]) for k in yolo]
    old_num = [y.num for y in settings]
    masks = [list(y.mask) for y in settings]
    keep = all(m and max(m) < n for m in masks) and all(o == n for o in old_num)
    if not keep:
        if n % len(yolo):
            raise CfgError(f"{sections[0].source}: {n} anchors cannot be shared evenly by "
                           f"{len(yolo)} [yolo] layers")
        per = n // len(yolo)
        order = sorted(range(len(yolo)), key=lambda j: min(masks[j]) if masks[j] else j)
        for rank, j in enumerate(order):
            masks[j] = list(range(rank * per, (rank + 1) * per))
    for j, k in enumerate(yolo):
        sec = sections[k]
        sec.options["anchors"] = text
        sec.set("num", n)
        if not keep:
            sec.set("mask", masks[j])
            conv = next((s for s in reversed(sections[:k]) if s.type == "convolutional"), None)
            if conv is not None:
                conv.set("filters", (settings[j].classes + 5) * len(masks[j]))
    return list(sections)


def write_anchors_cfg(cfg_in: os.PathLike, anchors: np.ndarray, cfg_out: os.PathLike) -> None:
    """Copy ``cfg_in`` to ``cfg_out`` with ``anchors`` in every ``[yolo]`` section."""
    sections = read_cfg(cfg_in)
    width = sections[0].get_int("width", 608) if sections and sections[0].type == "net" else 608
    write_cfg(set_anchors(sections, anchors, width), cfg_out)


def check_anchors(sections: Sequence[Section], dataset: DetectionDataset, width: int,
                  height: int, refit: bool = False, limit: int = 2000
                  ) -> Tuple[List[Section], List[str]]:
    """The training-time anchor check: how well the ``[yolo]`` anchors fit the dataset's boxes
    at the ``width x height`` network size (:func:`anchor_fit`, at most ``limit`` images).

    With ``refit`` and a best possible recall below :data:`MIN_BPR`, the anchors are replaced by
    k-means anchors of the same count when those fit better (written into copies of the
    sections; the user's files are never touched). Returns ``(sections, lines to print)``.
    """
    yolo = next((s for s in sections if s.type == "yolo" and s.has("anchors")), None)
    if yolo is None or not hasattr(dataset, "annotations"):   # in-memory sets: no check
        return list(sections), []
    current = np.asarray(YoloSettings.from_section(yolo).anchors, np.float64).reshape(-1, 2)
    wh = box_sizes(dataset, width, height, limit=limit)
    if len(wh) == 0:
        return list(sections), []
    bpr, iou = anchor_fit(wh, current)
    line = (f"anchors fit the training boxes at {width}x{height}: best possible recall "
            f"{bpr * 100:.1f}%, mean best IoU {iou * 100:.1f}%")
    if bpr >= MIN_BPR:
        return list(sections), [line]
    if not refit:
        return list(sections), [line + f"; below {MIN_BPR * 100:.0f}%: anchors=auto re-fits "
                                       f"them (or `yolov4 anchors DATA --cfg ... --write ...`)"]
    try:
        new, _ = kmeans_anchors(wh, len(current), seed=0)
    except DataError as err:
        return list(sections), [line + f"; not re-fitted: {err}"]
    new_bpr, new_iou = anchor_fit(wh, new)
    if (new_bpr, new_iou) <= (bpr, iou):
        return list(sections), [line + "; k-means anchors fit no better, kept"]
    import copy
    out = set_anchors([copy.deepcopy(s) for s in sections], new, width)
    return out, [line, f"anchors=auto: re-fitted to {format_anchors(new, width)} (best possible "
                       f"recall {new_bpr * 100:.1f}%, mean best IoU {new_iou * 100:.1f}%); "
                       f"written to the run's model.cfg"]
