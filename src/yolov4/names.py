"""Class names: the 80 COCO names (Darknet's ``data/coco.names`` order) and ``.names`` files."""
from __future__ import annotations

import os
from typing import List, Optional, Union

from .errors import DataError

#: Darknet's ``coco.names``: index = class id of the official COCO weights.
COCO_NAMES = (
    'person', 'bicycle', 'car', 'motorbike', 'aeroplane', 'bus',
    'train', 'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse',
    'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe',
    'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
    'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove',
    'skateboard', 'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup',
    'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza',
    'donut', 'cake', 'chair', 'sofa', 'pottedplant', 'bed',
    'diningtable', 'toilet', 'tvmonitor', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush',
)


def read_names(path: Union[str, "os.PathLike[str]"], classes: Optional[int] = None) -> List[str]:
    """Read a Darknet ``.names`` file (one name per line, blank lines ignored).

    Raises:
        DataError: naming the file when it is missing or, if ``classes`` is given, holds a
            different number of names than the model has classes.
    """
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError as err:
        raise DataError(f"{p}: cannot read names file ({err.strerror})") from None
    if classes is not None and len(names) != classes:
        raise DataError(f"{p}: names file lists {len(names)} classes but the model has {classes}")
    return names


def default_names(classes: int) -> List[str]:
    """COCO names for 80-class models, else ``["0", "1", ...]``."""
    return list(COCO_NAMES) if classes == len(COCO_NAMES) else [str(i) for i in range(classes)]
