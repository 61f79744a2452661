"""``yolov4 data check`` for classification datasets: images per class and every problem.

Fatal problems (training would fail or learn from corrupt data): images that are missing or do
not decode, classes with no training images, Darknet list entries whose path names no class or
several (``fill_truth``'s "Too many or too few labels"). A class without validation images is a
warning (its accuracy cannot be measured).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from ..errors import DataError
from .classes import ClassificationDataset, load_classification
from .dataset import image_size, read_image
from .labels import Problem


@dataclass
class ClassCheckReport:
    """Result of :func:`check_classification`; ``format_text()`` is what the CLI prints."""

    source: str
    names: List[str]
    counts: Dict[str, List[int]] = field(default_factory=dict)
    problems: List[Problem] = field(default_factory=list)

    @property
    def fatal(self) -> bool:
        return any(p.fatal for p in self.problems)

    def format_text(self) -> str:
        splits = list(self.counts)
        lines = [f"{self.source}: classification dataset, {len(self.names)} classes"]
        lines += [f"{s}: {sum(self.counts[s])} images" for s in splits]
        width = max([len(n) for n in self.names] + [5])
        lines.append("")
        lines.append(f"{'class':<{width}} " + " ".join(f"{s:>8}" for s in splits))
        for k, name in enumerate(self.names):
            lines.append(f"{name:<{width}} " + " ".join(f"{self.counts[s][k]:>8}" for s in splits))
        n_fatal = sum(p.fatal for p in self.problems)
        lines += ["", f"{len(self.problems)} problems ({n_fatal} errors, "
                      f"{len(self.problems) - n_fatal} warnings)"]
        lines += [str(p) for p in self.problems]
        return "\n".join(lines)


def check_images(ds: ClassificationDataset, decode: bool = True) -> List[Problem]:
    """One fatal problem per image that is missing or does not decode (``decode=False``: only
    the header is read)."""
    problems = []
    for path in ds.paths:
        if decode:
            try:
                read_image(path)
            except DataError as err:
                problems.append(Problem(path, 0, str(err).split(": ", 1)[-1]))
        elif image_size(path) is None:
            problems.append(Problem(path, 0, "image header does not decode"))
    return problems


def check_classification(path: os.PathLike, splits: Sequence[str] = ("train", "val"),
                         decode: bool = True) -> ClassCheckReport:
    """Check every available split (the first must exist); see the module docstring."""
    report = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for split in splits:
            try:
                ds = load_classification(path, split, allow_empty=True, allow_bad=True)
            except DataError:
                if split == splits[0]:
                    raise
                continue
            if report is None:
                report = ClassCheckReport(str(path), list(ds.names))
            report.counts[split] = ds.counts()
            for p, found in getattr(ds, "bad_paths", []):
                what = ("no class name" if not found else "several class names: "
                        + ", ".join(ds.names[k] for k in found))
                report.problems.append(Problem(p, 0, f"the path contains {what} (Darknet takes "
                                                     f"the class from the path)"))
            for name, count in zip(ds.names, ds.counts()):
                if count == 0:
                    report.problems.append(Problem(
                        ds.source, 0, f"class '{name}' has no {split} images",
                        fatal=split == "train"))
            report.problems.extend(check_images(ds, decode))
    assert report is not None
    return report


__all__ = ["ClassCheckReport", "check_classification", "check_images"]
