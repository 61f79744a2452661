"""What the server sends: the ``/detect`` JSON body and Darknet's JSON-stream frame."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from ..detections import Detections


def detections_json(d: Detections, decimals: int = 2) -> List[Dict[str, Any]]:
    """One record per detection, by decreasing score: ``class_id`` (0-based), ``name``,
    ``score``, ``xyxy`` [x1, y1, x2, y2] and ``xywh`` [x, y, w, h] (COCO: top-left corner,
    width, height), both in pixels of the image sent."""
    out = []
    for (x1, y1, x2, y2), s, c, name in zip(d.boxes.tolist(), d.scores.tolist(),
                                            d.class_ids.tolist(), d.labels):
        out.append({"class_id": int(c), "name": name, "score": round(float(s), 5),
                    "xyxy": [round(v, decimals) for v in (x1, y1, x2, y2)],
                    "xywh": [round(v, decimals) for v in (x1, y1, x2 - x1, y2 - y1)]})
    return out


def darknet_frame_json(d: Detections, frame_id: int, names: Sequence[str]) -> str:
    """Darknet's JSON-stream object for one frame, as ``detection_to_json`` (src/network.c)
    prints it for ``-json_port``: ``frame_id`` then ``objects`` with ``class_id``, ``name``,
    ``relative_coordinates`` {``center_x``, ``center_y``, ``width``, ``height``} (fractions of
    the frame) and ``confidence``, numbers in C's ``%f``. Classes named ``dont_show...`` are
    left out as Darknet does."""
    h, w = d.image_size
    objects = []
    for (x1, y1, x2, y2), s, c in zip(d.boxes.tolist(), d.scores.tolist(),
                                      d.class_ids.tolist()):
        name = names[c] if 0 <= c < len(names) else str(c)
        if name.startswith("dont_show"):
            continue
        objects.append(
            f'  {{"class_id":{c}, "name":"{_escape(name)}", "relative_coordinates":'
            f'{{"center_x":{(x1 + x2) / 2 / w:f}, "center_y":{(y1 + y2) / 2 / h:f}, '
            f'"width":{(x2 - x1) / w:f}, "height":{(y2 - y1) / h:f}}}, "confidence":{s:f}}}')
    return (f'{{\n "frame_id":{frame_id}, \n "objects": [ \n' + ", \n".join(objects)
            + "\n ] \n}")


def _escape(text: str) -> str:
    """A class name inside a JSON string (Darknet writes names raw; a quote would break it)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
