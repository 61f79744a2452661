"""Validation during training: run the network over a dataset split and score it with the Evaluator.

Images are resized as Darknet's ``detector map`` does (``letter_box`` from [net]: letterbox,
else stretched), detections are post-processed with Darknet's rules (``yolov4.postprocess``,
``obj * p_c > conf_thresh``, per-class NMS) and mapped back to original-image pixels, and the
targets are the dataset's own annotations (original pixels, crowd/difficult as ignore regions).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..data.loader import val_loader
from ..eval.evaluator import Evaluator
from ..postprocess import NmsSettings, nms_settings_from_sections, postprocess
from ..preprocess import ImageTransform


class _Subset:
    """The first ``n`` samples of a dataset (keeps ``names``, ``paths`` and ``targets``)."""

    def __init__(self, dataset: Any, n: int) -> None:
        self.dataset, self.n = dataset, n
        self.names = dataset.names
        self.paths = list(dataset.paths[:n])

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        if i >= self.n:
            raise IndexError(i)
        return self.dataset[i]

    def __getattr__(self, name: str) -> Any:  # targets(), annotations(), ... of the dataset
        return getattr(self.dataset, name)


def _transform(meta: Dict[str, Any], input_hw: Tuple[int, int]) -> ImageTransform:
    (sx, sy), (left, top), (oh, ow) = meta["scale"], meta["pad"], meta["orig_size"]
    new_size = (int(round(oh * sy)), int(round(ow * sx)))
    return ImageTransform(image_size=(int(oh), int(ow)), input_size=input_hw, new_size=new_size,
                          pad=(float(top), float(left)))


def _target(dataset: Any, index: int, boxes: torch.Tensor, labels: torch.Tensor,
            meta: Dict[str, Any]) -> Dict[str, Any]:
    if hasattr(dataset, "targets"):
        t = dict(dataset.targets(index))
        t.pop("path", None)
        t["image_id"] = index
        return t
    from ..data.loader import to_original
    return {"boxes": to_original(boxes, meta), "labels": labels.long(),
            "image_size": tuple(meta["orig_size"]), "image_id": index}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Any,
    *,
    size: Tuple[int, int],
    letterbox: bool = False,
    conf_thresh: float = 0.005,
    nms_thresh: float = 0.45,
    batch_size: int = 8,
    max_images: int = 0,
    device: Optional[torch.device] = None,
    sections: Optional[List[Any]] = None,
) -> Dict[str, float]:
    """Metrics of ``model`` on ``dataset`` (``Evaluator.summarize()`` keys, e.g. ``darknet.mAP50``).

    Args:
        model: a ``Darknet`` (put in eval mode here, its previous mode restored).
        size: network input ``(h, w)``.
        max_images: evaluate only the first N images (0 = all).
    """
    if max_images and max_images < len(dataset):
        dataset = _Subset(dataset, max_images)
    device = device or next(model.parameters()).device
    kind, beta = nms_settings_from_sections(sections or getattr(model, "sections", []))
    settings = NmsSettings(conf=conf_thresh, iou=nms_thresh, kind=kind, beta=beta)
    evaluator = Evaluator(list(dataset.names))
    was_training = model.training
    model.eval()
    try:
        loader = val_loader(dataset, size=size, letterbox=letterbox, batch_size=batch_size,
                            with_meta=True)
        for images, targets, _paths, metas in loader:
            outputs = model(images.to(device, non_blocking=True))
            input_hw = (int(images.shape[2]), int(images.shape[3]))
            transforms = [_transform(m, input_hw) for m in metas]
            results = postprocess([o.float().cpu() for o in outputs], transforms, settings)
            preds, tgts = [], []
            for b, (boxes, scores, ids) in enumerate(results):
                preds.append({"boxes": boxes, "scores": scores, "labels": ids})
                rows = targets[targets[:, 0] == b]
                tgts.append(_target(dataset, metas[b]["index"], rows[:, 2:], rows[:, 1], metas[b]))
            evaluator.process(preds, tgts)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return evaluator.summarize()
    finally:
        model.train(was_training)


def fitness(metrics: Dict[str, float]) -> float:
    """The number "best" is judged by: Darknet's mAP@0.5 (``-map``), else COCO AP50."""
    for key in ("darknet.mAP50", "coco.AP50"):
        if key in metrics:
            return float(metrics[key])
    return 0.0
