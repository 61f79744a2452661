"""Drawing detections on images: a box per detection labelled with class name and score."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

# Darknet's get_color palette (src/image.c): class colours interpolate these six.
_DARKNET_COLORS = ((1, 0, 1), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 1, 0), (1, 0, 0))


def class_color(class_id: int, classes: int = 80) -> Tuple[int, int, int]:
    """RGB colour of a class as Darknet's ``draw_detections`` picks it (``get_color``)."""
    offset = (class_id * 123457) % max(classes, 1)
    rgb = []
    for c in (2, 1, 0):  # Darknet: red = get_color(2, ...), green = 1, blue = 0
        ratio = (offset / max(classes, 1)) * 5
        i, j = int(np.floor(ratio)), int(np.ceil(ratio))
        ratio -= i
        v = (1 - ratio) * _DARKNET_COLORS[i][c] + ratio * _DARKNET_COLORS[j][c]
        rgb.append(int(round(v * 255)))
    return rgb[0], rgb[1], rgb[2]


def draw_detections(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                    class_ids: np.ndarray, names: Optional[Sequence[str]] = None,
                    thickness: Optional[int] = None) -> np.ndarray:
    """Draw boxes with ``"name 0.87"`` labels on a copy of an RGB image.

    Args:
        image: ``np.ndarray[H, W, 3]`` uint8 RGB (BGR works too; colours swap).
        boxes: ``float[N, 4]`` xyxy pixels. scores: ``float[N]``. class_ids: ``int[N]``.
        names: class names; ids without a name are written as numbers.
    Returns:
        the annotated ``np.ndarray[H, W, 3]`` uint8 (the input is not modified).
    """
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    lw = thickness or max(1, int(round(min(h, w) * 0.006)))
    font_scale = max(0.35, min(h, w) / 900.0)
    classes = len(names) if names else int(max(class_ids.max(initial=0) + 1, 1))
    order = np.argsort(scores)  # highest score drawn last, on top
    for k in order:
        x1, y1, x2, y2 = (int(round(float(v))) for v in boxes[k])
        cid = int(class_ids[k])
        color = class_color(cid, classes)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, lw)
        name = names[cid] if names and 0 <= cid < len(names) else str(cid)
        label = f"{name} {float(scores[k]):.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + 1), color, -1)
        text_color = (0, 0, 0) if sum(color) > 382 else (255, 255, 255)
        cv2.putText(out, label, (x1 + 1, ty - base + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    text_color, 1, cv2.LINE_AA)
    return out
