"""Detections of one image: boxes, scores and classes with their conversions (COCO json,
YOLO label lines, a drawn copy)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor

from .errors import DataError
from .preprocess import load_image


@dataclass
class Detections:
    """Detections of one image.

    Attributes:
        boxes: ``Tensor[N, 4]`` xyxy pixels of the original image.
        scores: ``Tensor[N]``. class_ids: ``Tensor[N]`` int64, 0-based into ``names``.
        names: class names of the model. path: source file (None for arrays).
        image_size: ``(h, w)`` of the original image. frame: video frame index, else None.
        image: the RGB image when it came from memory or a video (for :meth:`draw`).
    """

    boxes: Tensor
    scores: Tensor
    class_ids: Tensor
    names: List[str]
    path: Optional[str]
    image_size: Tuple[int, int]
    frame: Optional[int] = None
    image: Optional[np.ndarray] = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.scores.numel())

    @property
    def labels(self) -> List[str]:
        """Class name of each detection."""
        return [self.names[i] if 0 <= i < len(self.names) else str(i)
                for i in self.class_ids.tolist()]

    def to_coco_json(self, image_id: Optional[Any] = None,
                     category_ids: Optional[Sequence[int]] = None) -> List[Dict[str, Any]]:
        """COCO result records ``{"file_name", "category_id", "bbox": [x, y, w, h], "score"}``.

        ``category_id`` is the 0-based class id unless ``category_ids`` maps it (e.g. to COCO's
        91-id scheme); ``image_id`` is added when given.
        """
        from .eval.results import results_entries

        return results_entries(self.boxes.cpu().numpy(), self.scores.cpu().numpy(),
                               self.class_ids.cpu().numpy(), self.path, image_id, category_ids)

    def to_yolo_lines(self, with_score: bool = False) -> List[str]:
        """Darknet/YOLO label lines ``class cx cy w h`` (fractions of the image)."""
        h, w = self.image_size
        lines = []
        for (x1, y1, x2, y2), s, c in zip(self.boxes.tolist(), self.scores.tolist(),
                                          self.class_ids.tolist()):
            vals = [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
            line = f"{c} " + " ".join(f"{v:.6f}" for v in vals)
            lines.append(line + (f" {s:.6f}" if with_score else ""))
        return lines

    def draw(self, image: Optional[np.ndarray] = None) -> np.ndarray:
        """Annotated copy of the image (``np.ndarray[H, W, 3]`` uint8 RGB).

        Uses ``image`` (RGB) if given, else the attached image, else reloads ``path``."""
        from .draw import draw_detections

        if image is None:
            image = self.image if self.image is not None else None
        if image is None:
            if self.path is None:
                raise DataError("Detections.draw: no image attached; pass image=")
            image = load_image(self.path)
        return draw_detections(image, self.boxes.cpu().numpy(), self.scores.cpu().numpy(),
                               self.class_ids.cpu().numpy(), self.names)
