"""Run logs: per-iteration and per-epoch CSV files, optional TensorBoard, and PNG plots.

Files in the run directory:
- ``iterations.csv``: iteration, epoch, lr, loss, the task's loss parts (detector: box, obj,
  cls, darknet_loss = the loss as Darknet prints it), all per image, images/s, input WxH (one
  row per update);
- ``results.csv``: one row per epoch: mean losses per image, and the task's metrics when
  validated (empty otherwise; detector: mAP@0.5 (Darknet) and AP@[.5:.95] (COCO));
- ``plots/losses.png``, ``plots/lr.png``, ``plots/map.png`` (the metrics over iterations);
- ``tensorboard/`` when the ``tensorboard`` package is installed (optional, never required).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

#: The detector's columns (the defaults).
LOSS_KEYS = ("box", "obj", "cls")
EXTRA_KEYS = ("darknet_loss",)
METRIC_KEYS = ("mAP50", "AP")
METRIC_LABELS = {"mAP50": "mAP@0.5", "AP": "AP@[.5:.95]", "top1": "top-1", "top5": "top-5"}


class RunLog:
    """Appends CSV rows (also on resume), mirrors scalars to TensorBoard when available."""

    def __init__(self, out_dir: Path, tensorboard: bool = True, *,
                 loss_keys: Sequence[str] = LOSS_KEYS, extra_keys: Sequence[str] = EXTRA_KEYS,
                 metric_keys: Sequence[str] = METRIC_KEYS, write: bool = True) -> None:
        self.loss_keys, self.metric_keys = tuple(loss_keys), tuple(metric_keys)
        self.iter_fields = (("iteration", "epoch", "lr", "loss") + self.loss_keys
                            + tuple(extra_keys) + ("images_per_s", "size"))
        self.epoch_fields = ("epoch", "iteration", "lr", "loss") + self.loss_keys + self.metric_keys
        self.out = Path(out_dir)
        self.write = write          # False: rows kept in memory only (ranks other than 0)
        if write:
            self.out.mkdir(parents=True, exist_ok=True)
        self.iter_path = self.out / "iterations.csv"
        self.epoch_path = self.out / "results.csv"
        self.iterations: List[Dict[str, float]] = []
        self.epochs: List[Dict[str, Any]] = []
        self.writer = None
        if tensorboard and write:
            try:  # optional: torch.utils.tensorboard needs the `tensorboard` package
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(self.out / "tensorboard"))
            except Exception:
                self.writer = None

    def restore(self, history: Sequence[Mapping[str, Any]], iterations: Sequence[Mapping[str, Any]]) -> None:
        """Take over the rows of a resumed run (the CSV files already hold them)."""
        self.epochs = [dict(r) for r in history]
        self.iterations = [dict(r) for r in iterations]

    def _append(self, path: Path, fields: Sequence[str], row: Mapping[str, Any]) -> None:
        if not self.write:
            return
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in fields})

    def log_iteration(self, row: Mapping[str, float]) -> None:
        self.iterations.append(dict(row))
        self._append(self.iter_path, self.iter_fields, row)
        if self.writer is not None:
            it = int(row["iteration"])
            for k in ("lr", "loss") + self.loss_keys:
                self.writer.add_scalar(f"train/{k}", float(row[k]), it)

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        self.epochs.append(dict(row))
        self._append(self.epoch_path, self.epoch_fields, row)
        if self.writer is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k not in ("epoch",):
                    self.writer.add_scalar(f"epoch/{k}", float(v), int(row["epoch"]))

    def plots(self) -> List[Path]:
        """Write ``plots/losses.png``, ``plots/lr.png`` and ``plots/map.png`` (the metrics);
        return the paths."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        folder = self.out / "plots"
        folder.mkdir(exist_ok=True)
        written = []
        if self.iterations:
            its = [r["iteration"] for r in self.iterations]
            fig, ax = plt.subplots(figsize=(7, 4))
            for key in ("loss",) + self.loss_keys:
                ys = [r[key] for r in self.iterations]
                ax.plot(its, _smooth(ys), label=key)
            ax.set_xlabel("iteration"); ax.set_ylabel("loss per image (smoothed)")
            ax.set_yscale("log"); ax.legend(); ax.grid(alpha=0.3)
            fig.tight_layout(); fig.savefig(folder / "losses.png", dpi=90); plt.close(fig)
            fig, ax = plt.subplots(figsize=(7, 3))
            ax.plot(its, [r["lr"] for r in self.iterations])
            ax.set_xlabel("iteration"); ax.set_ylabel("learning rate"); ax.grid(alpha=0.3)
            fig.tight_layout(); fig.savefig(folder / "lr.png", dpi=90); plt.close(fig)
            written += [folder / "losses.png", folder / "lr.png"]
        first = self.metric_keys[0] if self.metric_keys else None
        rows = [r for r in self.epochs if first and r.get(first) not in (None, "")]
        if rows:
            fig, ax = plt.subplots(figsize=(7, 3.5))
            for key, mark in zip(self.metric_keys, "osd^v"):
                if all(key in r for r in rows):
                    ax.plot([r["iteration"] for r in rows], [r[key] for r in rows], mark + "-",
                            label=METRIC_LABELS.get(key, key))
            ax.set_xlabel("iteration"); ax.set_ylim(0, 1); ax.legend(); ax.grid(alpha=0.3)
            fig.tight_layout(); fig.savefig(folder / "map.png", dpi=90); plt.close(fig)
            written.append(folder / "map.png")
        return written

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _smooth(values: Sequence[float], alpha: float = 0.1) -> List[float]:
    """Darknet's avg loss: ``avg = 0.9 avg + 0.1 loss``, seeded with the first value."""
    out, avg = [], None
    for v in values:
        if not math.isfinite(v):
            out.append(float("nan"))
            continue
        avg = v if avg is None else (1 - alpha) * avg + alpha * v
        out.append(avg)
    return out
