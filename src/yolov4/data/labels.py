"""YOLO/Darknet label files (``class cx cy w h`` per line, relative): parsing with validation.

Every problem is reported as a :class:`Problem` naming the file and the 1-based line:

- wrong field count, non-numbers (including ``nan``/``inf``), class ids that are not integers
  or outside ``[0, classes)``, and boxes with zero or negative size are **rejected** (fatal:
  the label the user wrote is not trained on);
- boxes whose edges leave ``[0, 1]`` are **clipped** to the image (a warning);
- a missing or empty label file is a background image (no problem).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

#: Edges may leave [0, 1] by this much (float rounding in exporters) before it is reported.
CLIP_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Problem:
    """One defect found in a dataset.

    Attributes:
        file: the file holding the defect (label file, image, annotation JSON/XML).
        line: 1-based line number, 0 when it concerns the whole file.
        message: what is wrong and what was done about it.
        fatal: True when the data the user wrote is lost or unusable (rejected label, unreadable
            image); ``yolov4 data check`` exits non-zero when any problem is fatal.
    """

    file: str
    line: int
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        kind = "error" if self.fatal else "warning"
        return f"{where}: {kind}: {self.message}"


def _number(text: str) -> Optional[float]:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_label_text(text: str, path: str, classes: int
                     ) -> Tuple[np.ndarray, np.ndarray, List[Problem]]:
    """Parse the text of one YOLO label file.

    Args:
        text: the file's contents.
        path: the file name, used in problems.
        classes: number of classes; ids must lie in ``[0, classes)``.

    Returns:
        ``(labels int64[N], boxes float32[N, 4] cxcywh relative to the image, problems)``.
        Rejected lines are left out; clipped boxes are returned clipped.
    """
    labels: List[int] = []
    boxes: List[Tuple[float, float, float, float]] = []
    problems: List[Problem] = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != 5:
            problems.append(Problem(path, number, f"expected 5 fields 'class x y w h', found "
                                    f"{len(fields)}; line rejected"))
            continue
        values = [_number(f) for f in fields]
        if any(v is None for v in values):
            bad = next(f for f, v in zip(fields, values) if v is None)
            problems.append(Problem(path, number, f"not a finite number: {bad!r}; line rejected"))
            continue
        cls, cx, cy, w, h = values  # type: ignore[misc]
        if cls != int(cls):
            problems.append(Problem(path, number, f"class id {fields[0]!r} is not an integer; "
                                    "line rejected"))
            continue
        if not 0 <= cls < classes:
            problems.append(Problem(path, number, f"class id {int(cls)} out of range [0, {classes})"
                                    "; line rejected"))
            continue
        if w <= 0 or h <= 0:
            problems.append(Problem(path, number, f"box size {w:g} x {h:g} is not positive; "
                                    "line rejected"))
            continue
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        outside = min(x1, y1) < -CLIP_TOLERANCE or max(x2, y2) > 1 + CLIP_TOLERANCE
        if min(cx, cy, w, h) < 0 or max(cx, cy, w, h) > 1:
            outside = True
        x1, y1 = min(max(x1, 0.0), 1.0), min(max(y1, 0.0), 1.0)
        x2, y2 = min(max(x2, 0.0), 1.0), min(max(y2, 0.0), 1.0)
        if x2 <= x1 or y2 <= y1:
            problems.append(Problem(path, number, "box lies entirely outside the image "
                                    f"(x={cx:g} y={cy:g} w={w:g} h={h:g}); line rejected"))
            continue
        if outside:
            problems.append(Problem(path, number, f"coordinates outside [0, 1] (x={cx:g} y={cy:g} "
                                    f"w={w:g} h={h:g}); box clipped to the image", fatal=False))
        labels.append(int(cls))
        boxes.append(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))
    return (np.asarray(labels, np.int64).reshape(-1),
            np.asarray(boxes, np.float32).reshape(-1, 4), problems)


def read_label_file(path: str, classes: int) -> Tuple[np.ndarray, np.ndarray, List[Problem]]:
    """Read one label file; a missing file is a background image (no boxes, no problem).

    Returns: see :func:`parse_label_text`.
    """
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return np.zeros((0,), np.int64), np.zeros((0, 4), np.float32), []
    except OSError as err:
        return (np.zeros((0,), np.int64), np.zeros((0, 4), np.float32),
                [Problem(path, 0, f"label file cannot be read ({err.strerror})")])
    return parse_label_text(text, path, classes)


def cxcywh_to_xyxy(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """``float[N, 4]`` relative cxcywh -> ``float32[N, 4]`` xyxy pixels of a ``width x height``
    image."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.stack([(b[:, 0] - b[:, 2] / 2) * width, (b[:, 1] - b[:, 3] / 2) * height,
                    (b[:, 0] + b[:, 2] / 2) * width, (b[:, 1] + b[:, 3] / 2) * height], 1)
    return out.astype(np.float32)


def xyxy_to_cxcywh(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """``float[N, 4]`` xyxy pixels -> ``float64[N, 4]`` cxcywh relative to a ``width x height``
    image."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2 / width, (b[:, 1] + b[:, 3]) / 2 / height,
                     (b[:, 2] - b[:, 0]) / width, (b[:, 3] - b[:, 1]) / height], 1)


def label_path_for(image_path: str, dir_names: Tuple[str, ...] = ("images",)) -> str:
    """The label file of an image, as Darknet and the YOLO layout find it.

    The **last** path component equal to one of ``dir_names`` is replaced by ``labels`` and the
    extension by ``.txt``; with no such component the label sits next to the image
    (``data/images/a/x.jpg -> data/labels/a/x.txt``).
    """
    head, name = os.path.split(image_path)
    parts = head.replace("\\", "/").split("/")
    for k in range(len(parts) - 1, -1, -1):
        if parts[k] in dir_names:
            parts[k] = "labels"
            break
    stem = os.path.splitext(name)[0]
    return "/".join(parts + [stem + ".txt"]) if head else stem + ".txt"
