"""PNG plots of a search: fitness against each gene and over trials (evolve), and the
per-row bars of an ablation. Drawn on matplotlib's Agg canvas (no display, no global state)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, List, Mapping, Sequence

import numpy as np


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _finite(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def plot_evolve(records: Sequence[Mapping[str, Any]], genes: Sequence[str], directory: Path
                ) -> List[Path]:
    """``evolve_genes.png`` (fitness vs each gene; the best trial starred) and
    ``evolve_fitness.png`` (fitness per trial and the best so far)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = sorted(records, key=lambda r: int(r["trial"]))
    fit = np.array([_finite(r.get("fitness")) for r in rows])
    best = int(np.nanargmax(fit)) if len(fit) and np.isfinite(fit).any() else None
    paths = []
    n = max(1, len(genes))
    cols = min(4, n)
    nrows = math.ceil(n / cols)
    fig = _figure(3.2 * cols, 2.6 * nrows)
    for k, name in enumerate(genes):
        ax = fig.add_subplot(nrows, cols, k + 1)
        x = np.array([_finite(r.get(name)) for r in rows])
        ax.scatter(x, fit, c=np.arange(len(rows)), cmap="viridis", s=18)
        if best is not None:
            ax.scatter([x[best]], [fit[best]], marker="*", s=160, c="red")
            ax.set_title(f"{name} = {x[best]:.4g}", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    paths.append(directory / "evolve_genes.png")
    fig.savefig(paths[-1])
    fig = _figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    trials = [int(r["trial"]) for r in rows]
    ax.plot(trials, fit, "o", label="trial")
    ax.plot(trials, np.fmax.accumulate(np.nan_to_num(fit, nan=0.0)) if len(fit) else fit,
            "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("fitness")
    ax.legend()
    fig.tight_layout()
    paths.append(directory / "evolve_fitness.png")
    fig.savefig(paths[-1])
    return paths


def plot_ablate(table: Sequence[Mapping[str, Any]], path: Path,
                metrics: Sequence[str] = ("AP50", "AP")) -> Path:
    """Bars of the per-row mean of each metric, with +-1 std error bars."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [str(r["row"]) for r in table]
    fig = _figure(max(6.0, 0.7 * len(names) + 2), 4.5)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(metrics)
    x = np.arange(len(names))
    for k, m in enumerate(metrics):
        mean = [_finite(r.get(f"{m}_mean")) for r in table]
        std = [np.nan_to_num(_finite(r.get(f"{m}_std"))) for r in table]
        ax.bar(x + (k - (len(metrics) - 1) / 2) * width, mean, width, yerr=std, capsize=3,
               label=m)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("mean over seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return path


__all__ = ["plot_evolve", "plot_ablate"]
