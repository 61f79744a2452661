"""Classifier metrics: top-1, top-k, per-class accuracy and the confusion matrix.

Darknet (``src/classifier.c: validate_classifier_single``): each validation image is resized so
its shorter side is the network width and centre-cropped (``resize_min``, ``crop_image``;
:func:`yolov4.data.transforms.classify.center_crop_input`), the prediction's ``top_k`` indices
are compared with the class from the path; top-1 is the share of images whose first index is
the class, top-k the share with the class among the first k (``top=`` of the ``.data`` file,
during training 5, capped at the class count).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..data.transforms.classify import center_crop_input


@dataclass
class ClassifierMetrics:
    """Accumulates predictions. ``confusion[t, p]``: images of true class t predicted p."""

    names: List[str]
    k: int = 5
    confusion: np.ndarray = field(init=False)
    topk_hits: int = 0

    def __post_init__(self) -> None:
        self.k = max(1, min(int(self.k), len(self.names)))
        self.confusion = np.zeros((len(self.names), len(self.names)), np.int64)

    def process(self, probs: torch.Tensor, labels: Sequence[int]) -> None:
        """``probs``: ``Tensor[B, classes]``; ``labels``: the B true classes."""
        probs = probs.detach().float().cpu().reshape(len(labels), -1)
        top = probs.topk(self.k, dim=1).indices.numpy()
        for row, t in zip(top, labels):
            self.confusion[int(t), int(row[0])] += 1
            self.topk_hits += int(int(t) in row.tolist())

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    def per_class(self) -> np.ndarray:
        """Accuracy of each true class (NaN for a class without images)."""
        totals = self.confusion.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, np.diag(self.confusion) / np.maximum(totals, 1), np.nan)

    def summarize(self) -> Dict[str, float]:
        """``top1``, ``top5`` (top-k with k = min(5, classes)), ``images`` and ``acc.<name>``."""
        n = max(self.count, 1)
        out = {"top1": float(np.trace(self.confusion)) / n, "top5": self.topk_hits / n,
               "images": float(self.count), "k": float(self.k)}
        for name, acc in zip(self.names, self.per_class()):
            out[f"acc.{name}"] = float(acc)
        return out

    def format_text(self) -> str:
        s = self.summarize()
        width = max([len(n) for n in self.names] + [5])
        lines = [f"{self.count} images: top-1 {s['top1']:.4f}  top-{self.k} {s['top5']:.4f}", "",
                 f"{'class':<{width}} {'images':>7} {'accuracy':>9}"]
        for name, total, acc in zip(self.names, self.confusion.sum(1), self.per_class()):
            lines.append(f"{name:<{width}} {int(total):>7} {acc:>9.4f}")
        return "\n".join(lines)


def input_batch(images: Sequence[np.ndarray], size: Sequence[int]) -> torch.Tensor:
    """``Tensor[B, 3, h, w]``: each image through :func:`center_crop_input` (``size = (h, w)``)."""
    h, w = int(size[0]), int(size[1])
    return torch.from_numpy(np.stack([center_crop_input(im, w, h) for im in images]))


@torch.no_grad()
def evaluate_classifier(model: torch.nn.Module, dataset: Any, *, size: Sequence[int],
                        batch_size: int = 32, k: int = 5, max_images: int = 0,
                        device: Optional[torch.device] = None) -> ClassifierMetrics:
    """Run ``model`` (eval mode, its mode restored) on ``dataset`` (``names``, ``__len__``,
    ``__getitem__ -> ClassSample``); returns the filled :class:`ClassifierMetrics`."""
    device = device or next(model.parameters()).device
    metrics = ClassifierMetrics(list(dataset.names), k)
    n = len(dataset) if not max_images else min(len(dataset), int(max_images))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, batch_size):
            samples = [dataset[i] for i in range(start, min(n, start + batch_size))]
            x = input_batch([s.image for s in samples], size).to(device)
            out = model(x)
            out = out[0] if isinstance(out, (list, tuple)) else out
            metrics.process(out.reshape(len(samples), -1), [s.label for s in samples])
    finally:
        model.train(was_training)
    return metrics


def plot_confusion(metrics: ClassifierMetrics, path: Path) -> Path:
    """The confusion matrix, normalised per true class (rows), as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = metrics.confusion.astype(np.float64)
    m = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = len(metrics.names)
    side = min(4 + 0.35 * n, 14)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046)
    if n <= 30:
        ax.set_xticks(range(n), metrics.names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), metrics.names, fontsize=7)
        for i in range(n):
            for j in range(n):
                if metrics.confusion[i, j]:
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] > 0.5 else "black")
    ax.set(xlabel="Predicted", ylabel="True", title="Confusion matrix (row-normalised)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


__all__ = ["ClassifierMetrics", "evaluate_classifier", "input_batch", "plot_confusion"]
