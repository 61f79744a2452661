"""PNG plots of an evaluation: PR curves, F1 vs confidence, confusion matrix.

Figures are drawn on matplotlib's Agg canvas created here (``Figure`` + ``FigureCanvasAgg``),
so importing or calling this module never changes the global matplotlib backend.
Curves come from the Darknet family (IoU ``iou_thresh``, default .5): per class, the
precision/recall at each rank of its detections sorted by score.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Sequence

import numpy as np

from .confusion import confusion_matrix
from .darknet_map import DarknetMetrics

GRID = np.linspace(0, 1, 101)


def _figure(w: float = 7.0, h: float = 5.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=120, tight_layout=True)
    FigureCanvasAgg(fig)
    return fig


def pr_on_grid(m: DarknetMetrics, c: int) -> np.ndarray:
    """``float[101]``: class ``c``'s interpolated precision (monotone envelope) at recall GRID."""
    _, p, r = m.curves[c]
    if len(r) == 0:
        return np.zeros_like(GRID)
    env = np.maximum.accumulate(p[::-1])[::-1]
    idx = np.searchsorted(r, GRID, side="left")
    return np.where(idx < len(r), env[np.minimum(idx, len(r) - 1)], 0.0)


def f1_on_grid(m: DarknetMetrics, c: int) -> np.ndarray:
    """``float[101]``: class ``c``'s F1 keeping detections with score > each GRID confidence."""
    s, p, r = m.curves[c]
    out = np.zeros_like(GRID)
    if len(s) == 0 or m.truths[c] == 0:
        return out
    # detections are sorted by descending score: the number above t is searchsorted on -s
    n = np.searchsorted(-s, -GRID, side="left")
    ok = n > 0
    pp, rr = p[n[ok] - 1], r[n[ok] - 1]
    out[ok] = np.where(pp + rr > 0, 2 * pp * rr / np.maximum(pp + rr, 1e-12), 0.0)
    return out


def _class_curves(ax, m: DarknetMetrics, names: Sequence[str],
                  on_grid: Callable[[DarknetMetrics, int], np.ndarray],
                  label: Callable[[int], str]) -> List[np.ndarray]:
    """Draw ``on_grid(m, c)`` of every class with truths on ``ax`` (thin lines, labelled by
    ``label(c)``; grey and unlabelled beyond 20 classes) and return the curves."""
    valid = [c for c in range(len(names)) if m.truths[c] > 0]
    few = len(valid) <= 20
    curves = []
    for c in valid:
        g = on_grid(m, c)
        curves.append(g)
        ax.plot(GRID, g, lw=1, alpha=0.9 if few else 0.3, color=None if few else "grey",
                label=label(c) if few else None)
    return curves


def plot_pr_curves(m: DarknetMetrics, names: Sequence[str], path: Path) -> Path:
    fig = _figure()
    ax = fig.add_subplot(111)
    curves = _class_curves(ax, m, names, pr_on_grid, lambda c: f"{names[c]} {m.ap[c]:.3f}")
    if curves:
        ax.plot(GRID, np.mean(curves, 0), lw=3, color="blue",
                label=f"all classes mAP@{m.iou_thresh:.2f} {m.map:.3f}")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01),
           title=f"Precision-Recall (IoU {m.iou_thresh:.2f})")
    ax.legend(loc="lower left", fontsize=7)
    fig.savefig(path)
    return path


def plot_f1_confidence(m: DarknetMetrics, names: Sequence[str], path: Path) -> Path:
    fig = _figure()
    ax = fig.add_subplot(111)
    curves = _class_curves(ax, m, names, f1_on_grid, lambda c: names[c])
    if curves:
        mean = np.mean(curves, 0)
        k = int(mean.argmax())
        ax.plot(GRID, mean, lw=3, color="blue",
                label=f"all classes {mean[k]:.2f} at {GRID[k]:.2f}")
    ax.set(xlabel="Confidence", ylabel="F1", xlim=(0, 1), ylim=(0, 1.01),
           title="F1 vs confidence")
    ax.legend(loc="lower left", fontsize=7)
    fig.savefig(path)
    return path


def plot_confusion(matrix: np.ndarray, names: Sequence[str], path: Path,
                   normalize: bool = True) -> Path:
    """Rows predicted, columns true; the last row/column is background."""
    labels = list(names) + ["background"]
    m = matrix.astype(np.float64)
    if normalize:
        m = m / np.maximum(m.sum(0, keepdims=True), 1)  # per true class (column)
    if len(labels) > 31:  # many classes: show only those that occur (and background)
        used = np.flatnonzero((matrix.sum(0) + matrix.sum(1)) > 0)
        used = np.union1d(used, [len(labels) - 1])
        matrix, m = matrix[np.ix_(used, used)], m[np.ix_(used, used)]
        labels = [labels[i] for i in used]
    n = len(labels)
    size = min(4 + 0.35 * n, 14)
    fig = _figure(size, size * 0.85)
    ax = fig.add_subplot(111)
    im = ax.imshow(m, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046)
    if n <= 30:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, f"{m[i, j]:.2f}" if normalize else str(matrix[i, j]),
                            ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] > 0.5 * m.max() else "black")
    ax.set(xlabel="True", ylabel="Predicted",
           title="Confusion matrix" + (" (column-normalised)" if normalize else ""))
    fig.savefig(path)
    return path


def save_plots(evaluator, directory, conf: float = 0.25, iou: float = 0.45) -> List[Path]:
    """Write ``PR_curve.png``, ``F1_curve.png`` and ``confusion_matrix.png`` for a summarised
    :class:`~yolov4.eval.Evaluator`; returns the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    m = evaluator.darknet_result
    if m is None:
        m = evaluator._darknet()
    names = evaluator.names
    return [plot_pr_curves(m, names, out / "PR_curve.png"),
            plot_f1_confidence(m, names, out / "F1_curve.png"),
            plot_confusion(confusion_matrix(evaluator, conf, iou), names,
                           out / "confusion_matrix.png")]
