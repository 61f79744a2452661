"""``yolov4 data check``: per-class counts, a box size histogram and every problem of a dataset.

A problem is *fatal* (the check fails) when training would silently lose or misuse what the user
wrote: rejected label lines (wrong field count, non-numbers, class ids out of range, no area),
images that are missing or do not decode, annotations of unknown classes. Clipped coordinates,
duplicate boxes and boxes under 2 px are warnings.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import numpy as np

from ..errors import DataError
from .dataset import DataWarning, DetectionDataset
from .formats import load_dataset
from .labels import Problem

#: Upper edges (pixels) of the box-size histogram bins, size = sqrt(w * h).
SIZE_BINS = (8, 16, 32, 64, 128, 256, 512)
#: Boxes smaller than this (pixels, either side) are reported.
TINY = 2.0


@dataclass
class SplitStats:
    """Counts of one split."""

    images: int = 0
    background: int = 0
    boxes: int = 0
    crowd: int = 0
    difficult: int = 0
    per_class: List[int] = field(default_factory=list)
    size_hist: List[int] = field(default_factory=lambda: [0] * (len(SIZE_BINS) + 1))


@dataclass
class CheckReport:
    """Result of :func:`check_dataset`."""

    source: str
    format: str
    names: List[str]
    splits: Dict[str, SplitStats] = field(default_factory=dict)
    problems: List[Problem] = field(default_factory=list)

    @property
    def fatal(self) -> bool:
        """True when any problem would corrupt training."""
        return any(p.fatal for p in self.problems)

    def format_text(self) -> str:
        """The report as printed by ``yolov4 data check``."""
        lines = [f"{self.source}: {self.format} dataset, {len(self.names)} classes"]
        splits = list(self.splits)
        for s in splits:
            st = self.splits[s]
            lines.append(f"{s}: {st.images} images ({st.background} background), {st.boxes} boxes"
                         f" ({st.crowd} crowd, {st.difficult} difficult)")
        width = max([len(n) for n in self.names] + [5])
        lines.append("")
        lines.append(f"{'class':<{width}} " + " ".join(f"{s:>8}" for s in splits))
        for k, name in enumerate(self.names):
            lines.append(f"{name:<{width}} " + " ".join(f"{self.splits[s].per_class[k]:>8}"
                                                         for s in splits))
        lines.append("")
        lines.append(f"{'box size (px)':<{width}} " + " ".join(f"{s:>8}" for s in splits))
        edges = (0,) + SIZE_BINS
        for b in range(len(SIZE_BINS) + 1):
            label = f"{edges[b]}-{SIZE_BINS[b]}" if b < len(SIZE_BINS) else f">={SIZE_BINS[-1]}"
            lines.append(f"{label:<{width}} " + " ".join(f"{self.splits[s].size_hist[b]:>8}"
                                                         for s in splits))
        lines.append("")
        n_fatal = sum(p.fatal for p in self.problems)
        lines.append(f"{len(self.problems)} problems ({n_fatal} errors, "
                     f"{len(self.problems) - n_fatal} warnings)")
        lines.extend(str(p) for p in self.problems)
        return "\n".join(lines)


def _box_problems(ds: DetectionDataset, i: int) -> List[Problem]:
    ann = ds.annotations(i)
    out = []
    wh = ann.boxes[:, 2:] - ann.boxes[:, :2]
    for k in np.nonzero((wh < TINY).any(1))[0]:
        out.append(Problem(ann.path, 0, f"box {k + 1} is {wh[k, 0]:.1f} x {wh[k, 1]:.1f} px",
                           fatal=False))
    rows = np.concatenate([ann.labels[:, None].astype(np.float32), ann.boxes], 1)
    _, first, counts = np.unique(np.round(rows, 2), axis=0, return_index=True, return_counts=True)
    for k, c in zip(first, counts):
        if c > 1:
            out.append(Problem(ann.path, 0, f"box {k + 1} ({ds.names[ann.labels[k]]}) appears "
                               f"{c} times", fatal=False))
    return out


def check_split(ds: DetectionDataset, decode: bool = True) -> "tuple[SplitStats, List[Problem]]":
    """Statistics and problems of one dataset split (``decode`` every image to find corrupt
    ones)."""
    st = SplitStats(per_class=[0] * len(ds.names))
    problems = list(ds.problems)
    for i in range(len(ds)):
        ann = ds.annotations(i)
        problems.extend(ann.problems)
        if ann.image_size is None:
            continue
        if decode:
            try:
                ds.load_image(i)
            except DataError as err:
                problems.append(Problem(ds.paths[i], 0, f"{err}; skipped".split(": ", 1)[-1]))
                continue
        problems.extend(_box_problems(ds, i))
        st.images += 1
        st.background += int(len(ann.labels) == 0)
        st.boxes += len(ann.labels)
        st.crowd += int(ann.iscrowd.sum())
        st.difficult += int(ann.difficult.sum())
        for c in ann.labels.tolist():
            st.per_class[c] += 1
        side = np.sqrt(np.prod(ann.boxes[:, 2:] - ann.boxes[:, :2], 1))
        for b in np.searchsorted(np.asarray(SIZE_BINS), side, side="right").tolist():
            st.size_hist[b] += 1
    return st, problems


def check_dataset(path: os.PathLike, splits: Sequence[str] = ("train", "val"),
                  decode: bool = True) -> CheckReport:
    """Check every available split of a dataset (the first split must exist)."""
    report = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # all problems are in the report
        for split in splits:
            try:
                ds = load_dataset(path, split)
            except DataError:
                if split == splits[0]:
                    raise
                continue
            if report is None:
                report = CheckReport(str(path), ds.format, list(ds.names))
            elif ds.names != report.names:
                report.problems.append(Problem(str(path), 0, f"the {split!r} split has classes "
                                               f"{ds.names}, not {report.names}"))
            st, problems = check_split(ds, decode)
            report.splits[split] = st
            report.problems.extend(problems)
    assert report is not None
    return report
