"""Non-maximum suppression: greedy (IoU test), DIoU-NMS (Darknet's ``beta_nms``) and Soft-NMS.

Every function takes ``boxes: Tensor[N, 4]`` xyxy (any unit shared by all boxes; Darknet runs
NMS on image-relative boxes, which matters for the DIoU penalty only), ``scores: Tensor[N]`` and
optional ``class_ids: Tensor[N]`` int64, and returns indices into the inputs ordered by
decreasing (final) score.

Kinds (``NMS_KINDS``):
- ``"greedy"``: the classic test — drop a box whose IoU with a kept, higher-scored box of the
  same class is ``> iou_threshold``. Darknet's default ``do_nms_sort`` and OpenCV's
  ``NMSBoxes`` (both sort by score, suppress on ``IoU > threshold``).
- ``"diou"``: Darknet's ``diounms_sort`` test ``IoU - (ρ²/c²) ** beta > iou_threshold``
  (``box_diounms``). Note a cfg's ``nms_kind=greedynms`` is this test with ``beta = 0.6``
  (``box_diou``), not the classic one; see :func:`nms_from_cfg`.
- ``"soft-linear"`` / ``"soft-gaussian"`` (Bodla et al. 2017): instead of dropping, decay the
  scores of overlapping boxes — linear ``s *= 1 - IoU`` where ``IoU >= iou_threshold``,
  Gaussian ``s *= exp(-IoU² / sigma)`` — and drop boxes whose score falls to
  ``score_threshold`` or below.

Ties in score keep input order (stable sort, like OpenCV's ``NMSBoxes``; Darknet's ``qsort`` is
unstable so its tie order is unspecified).

Greedy and DIoU NMS are exact and vectorised: candidates are sorted by (class, score) and
processed in blocks of ``BLOCK`` boxes; inside a block the greedy recursion ``keep[j] = not
any(keep[i] and sim[i, j] > t for i < j)`` is solved by fixed-point iteration over whole
vectors (each pass fixes at least one more position, and it stops as soon as a pass changes
nothing), and kept boxes of earlier blocks are applied as one matrix test. Soft-NMS is
sequential by definition; it loops once per *kept* box (at most ``max_det``), each step
vectorised over the remaining boxes.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from .boxes import bbox_similarity

NMS_KINDS = ("greedy", "diou", "soft-linear", "soft-gaussian")
#: Boxes per block of the exact greedy solver (bounds memory at BLOCK x (BLOCK + kept) floats).
BLOCK = 256


def nms_from_cfg(nms_kind: str, beta_nms: float) -> Tuple[str, float]:
    """Map a cfg's ``[yolo] nms_kind`` / ``beta_nms`` to ``(kind, beta)`` of this module.

    ``default`` -> greedy IoU test; ``greedynms`` -> DIoU test with exponent 0.6 (Darknet's
    ``box_diou`` ignores ``beta_nms``); ``diounms`` -> DIoU test with ``beta_nms``.
    ``cornersnms`` (Darknet's experimental box-merging variant) falls back to the IoU test.
    """
    kind = (nms_kind or "default").strip().lower()
    if kind == "greedynms":
        return "diou", 0.6
    if kind == "diounms":
        return "diou", float(beta_nms)
    return "greedy", float(beta_nms)


def pairwise_similarity(a: Tensor, b: Tensor, kind: str = "greedy", beta: float = 0.6) -> Tensor:
    """Suppression score of every pair: IoU (``greedy``/soft kinds) or Darknet's DIoU-NMS value.

    Args:
        a: ``Tensor[N, 4]`` xyxy; b: ``Tensor[M, 4]`` xyxy.
    Returns:
        ``Tensor[N, M]`` float32 (float64 for float64 input). DIoU: ``IoU - (ρ²/c²) ** beta`` with IoU alone where the
        enclosing box is degenerate (``c² = 0``), as ``box_diounms``.
    """
    if a.dtype != torch.float64:
        a, b = a.float(), b.float()
    if kind == "diou":
        return bbox_similarity(a[:, None], b[None], "diou", eps=0.0,
                               diou_exponent=beta).nan_to_num(0.0)
    return bbox_similarity(a[:, None], b[None], "iou", eps=0.0).nan_to_num(0.0)


def _greedy_block(sup: Tensor) -> Tensor:
    """Solve ``keep[j] = not any_{i<j}(keep[i] & sup[i, j])`` for a bool ``Tensor[n, n]``."""
    sup = sup.triu(1)
    n = sup.shape[0]
    keep = torch.ones(n, dtype=torch.bool, device=sup.device)
    if n == 0 or not bool(sup.any()):
        return keep
    supf = sup.to(torch.float32)
    for _ in range(n):  # bounded by n; typically a handful of passes
        new = (keep.to(torch.float32) @ supf) == 0
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def _sorted_order(scores: Tensor, class_ids: Optional[Tensor]) -> Tensor:
    order = torch.argsort(scores, descending=True, stable=True)
    if class_ids is not None:
        order = order[torch.argsort(class_ids[order], stable=True)]
    return order


def hard_nms(boxes: Tensor, scores: Tensor, iou_threshold: float,
             class_ids: Optional[Tensor] = None, *, kind: str = "greedy",
             beta: float = 0.6) -> Tensor:
    """Greedy (``kind="greedy"``) or DIoU (``kind="diou"``) NMS, per class if ``class_ids``.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy. scores: ``Tensor[N]``.
        iou_threshold: suppress when the similarity is ``> iou_threshold``.
        class_ids: ``Tensor[N]`` int64, or ``None`` for class-agnostic NMS.
        beta: DIoU exponent (``beta_nms``).
    Returns:
        ``Tensor[K]`` int64 indices of kept boxes, by decreasing score.
    """
    if kind not in ("greedy", "diou"):
        raise ValueError(f"hard_nms kind must be 'greedy' or 'diou', got '{kind}'")
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = _sorted_order(scores, class_ids)
    b = boxes[order] if boxes.dtype == torch.float64 else boxes[order].float()
    c = class_ids[order] if class_ids is not None else None
    # positions (into the sorted order) kept so far
    kept_all = torch.zeros(0, dtype=torch.int64, device=boxes.device)
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        bb = b[start:stop]
        alive = torch.ones(stop - start, dtype=torch.bool, device=boxes.device)
        if kept_all.numel():
            prev = kept_all
            if c is not None:  # only earlier kept boxes of the classes in this block matter
                prev = prev[c[prev] >= c[start]]
            if prev.numel():
                sim = pairwise_similarity(b[prev], bb, kind, beta) > iou_threshold
                if c is not None:
                    sim &= c[prev][:, None] == c[start:stop][None]
                alive = ~sim.any(0)
        sup = pairwise_similarity(bb, bb, kind, beta) > iou_threshold
        if c is not None:
            sup &= c[start:stop][:, None] == c[start:stop][None]
        # suppressed boxes cannot suppress: remove their rows before solving the block
        sup &= alive[:, None]
        keep = _greedy_block(sup) & alive
        kept_all = torch.cat([kept_all, torch.nonzero(keep).flatten() + start])
    out = order[kept_all]
    # across classes, restore the global decreasing-score order
    return out[torch.argsort(scores[out], descending=True, stable=True)]


def soft_nms(boxes: Tensor, scores: Tensor, iou_threshold: float = 0.3,
             class_ids: Optional[Tensor] = None, *, method: str = "gaussian",
             sigma: float = 0.5, score_threshold: float = 0.001,
             max_det: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """Soft-NMS (Bodla et al. 2017), per class if ``class_ids`` is given.

    Repeatedly takes the highest-scored remaining box M, then decays every remaining box b of
    the same class: ``linear``: ``s_b *= 1 - IoU(M, b)`` if ``IoU >= iou_threshold``;
    ``gaussian``: ``s_b *= exp(-IoU(M, b)² / sigma)``. Boxes with ``s <= score_threshold``
    are dropped.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy. scores: ``Tensor[N]``. class_ids: ``Tensor[N]`` or None.
        max_det: stop after this many kept boxes (None: all).
    Returns:
        ``(keep: Tensor[K] int64, new_scores: Tensor[K] float32)`` in selection order, which is
        decreasing new score.
    """
    if method not in ("linear", "gaussian"):
        raise ValueError(f"soft_nms method must be 'linear' or 'gaussian', got '{method}'")
    device = boxes.device
    s = scores.detach().clone()
    s = s if s.dtype == torch.float64 else s.float()
    b = boxes.detach() if boxes.dtype == torch.float64 else boxes.detach().float()
    alive = s > score_threshold
    limit = boxes.shape[0] if max_det is None else min(max_det, boxes.shape[0])
    keep, kept_scores = [], []
    while len(keep) < limit and bool(alive.any()):
        masked = torch.where(alive, s, torch.full_like(s, -1.0))
        i = int(torch.argmax(masked))  # first index among equal maxima
        keep.append(i)
        kept_scores.append(s[i].clone())
        alive[i] = False
        idx = torch.nonzero(alive).flatten()
        if class_ids is not None:
            idx = idx[class_ids[idx] == class_ids[i]]
        if idx.numel() == 0:
            continue
        iou = pairwise_similarity(b[i:i + 1], b[idx], "greedy")[0]
        if method == "linear":
            decay = torch.where(iou >= iou_threshold, 1.0 - iou, torch.ones_like(iou))
        else:
            decay = torch.exp(-(iou * iou) / sigma)
        s[idx] = s[idx] * decay
        alive[idx] = s[idx] > score_threshold
    if not keep:
        return (torch.zeros(0, dtype=torch.int64, device=device),
                torch.zeros(0, dtype=torch.float32, device=device))
    return (torch.tensor(keep, dtype=torch.int64, device=device), torch.stack(kept_scores))


def non_max_suppression(boxes: Tensor, scores: Tensor, class_ids: Optional[Tensor] = None, *,
                        kind: str = "greedy", iou_threshold: float = 0.45, beta: float = 0.6,
                        sigma: float = 0.5, score_threshold: float = 0.001,
                        agnostic: bool = False,
                        max_det: Optional[int] = 300) -> Tuple[Tensor, Tensor]:
    """Any NMS kind of this module: ``(keep: Tensor[K] int64, scores: Tensor[K])``.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy. scores: ``Tensor[N]``. class_ids: ``Tensor[N]`` int64.
        kind: one of :data:`NMS_KINDS`.
        iou_threshold: suppression threshold (soft-linear: IoU from which scores decay).
        beta: DIoU exponent for ``kind="diou"``. sigma: Gaussian Soft-NMS width.
        score_threshold: Soft-NMS drops boxes whose decayed score is ``<=`` this.
        agnostic: ignore ``class_ids`` (one NMS over all classes).
        max_det: keep at most this many boxes (highest scores), None for all.
    Returns:
        kept indices by decreasing score and their scores (decayed ones for Soft-NMS).
    """
    if kind not in NMS_KINDS:
        raise ValueError(f"unknown NMS kind '{kind}', expected one of {NMS_KINDS}")
    cls = None if agnostic else class_ids
    if kind.startswith("soft"):
        return soft_nms(boxes, scores, iou_threshold, cls, method=kind[5:], sigma=sigma,
                        score_threshold=score_threshold, max_det=max_det)
    keep = hard_nms(boxes, scores, iou_threshold, cls, kind=kind, beta=beta)
    if max_det is not None:
        keep = keep[:max_det]
    return keep, scores[keep]
