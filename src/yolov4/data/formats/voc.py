"""Pascal VOC: ``Annotations/<id>.xml``, ``ImageSets/Main/<split>.txt``, ``JPEGImages/``.

Box convention of Darknet's ``scripts/voc_label.py``: VOC's 1-based inclusive corners map to
pixels as ``x1 = xmin - 1, x2 = xmax - 1`` (width ``xmax - xmin``). ``difficult`` objects are kept
with ``difficult=True`` (VOC evaluation ignores them) and left out by ``ds.for_training()``.

Class names, in order of preference: ``names=`` given to the reader, a ``labels.txt`` /
``names.txt`` / ``classes.txt`` / ``voc.names`` file in the root, the 20 VOC classes in
Darknet's ``voc.names`` order when every name found is one of them, else the sorted names found
in all XML files.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import DataError
from ..dataset import IMAGE_EXTENSIONS, Annotation, DetectionDataset, image_size
from ..labels import Problem

VOC_NAMES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
             "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
             "train", "tvmonitor")
NAME_FILES = ("labels.txt", "names.txt", "classes.txt", "voc.names")
SPLIT_FILES = {"train": ("train", "trainval"), "val": ("val", "test"), "test": ("test", "val")}


def _parse_xml(path: Path) -> Tuple[Optional[ET.Element], Optional[Problem]]:
    try:
        return ET.parse(path).getroot(), None
    except FileNotFoundError:
        return None, Problem(str(path), 0, "annotation file not found; image skipped")
    except ET.ParseError as err:
        line = err.position[0] if err.position else 0
        return None, Problem(str(path), line, f"not valid XML ({err}); image skipped")


def _number(node: Optional[ET.Element], tag: str) -> Optional[float]:
    text = node.findtext(tag) if node is not None else None
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


class VocDataset(DetectionDataset):
    """Pascal VOC detection annotations of one ``ImageSets/Main`` split."""

    format = "voc"

    def __init__(self, root: Path, ids: Sequence[str], names: Sequence[str], *,
                 split: str = "train", **kwargs: Any) -> None:
        self.root = root
        xmls = [root / "Annotations" / f"{i}.xml" for i in ids]
        paths = []
        self._xml: List[Tuple[Optional[ET.Element], Optional[Problem]]] = []
        for image_id, xml in zip(ids, xmls):
            node, problem = _parse_xml(xml)
            self._xml.append((node, problem))
            paths.append(self._image_path(image_id, node))
        super().__init__(paths, names, source=str(root), split=split, **kwargs)
        self.image_ids = list(ids)
        self.xml_paths = [str(x) for x in xmls]
        self._index_of = {n: k for k, n in enumerate(self.names)}

    def _image_path(self, image_id: str, node: Optional[ET.Element]) -> str:
        folder = self.root / "JPEGImages"
        name = node.findtext("filename") if node is not None else None
        if name and (folder / name).is_file():
            return str(folder / name)
        for ext in IMAGE_EXTENSIONS:
            if (folder / f"{image_id}{ext}").is_file():
                return str(folder / f"{image_id}{ext}")
        return str(folder / (name or f"{image_id}.jpg"))

    def _read_annotation(self, i: int, size: Optional[Tuple[int, int]]) -> Annotation:
        node, problem = self._xml[i]
        xml = self.xml_paths[i]
        problems = [problem] if problem else []
        if node is None:
            return Annotation(self.paths[i], np.zeros((0, 4)), [], None, None, None,
                              self.image_ids[i], problems)
        w, h = _number(node.find("size"), "width"), _number(node.find("size"), "height")
        if not w or not h:
            got = size or image_size(self.paths[i])
            if got is None:
                problems.append(Problem(self.paths[i], 0, "image is missing or does not decode; "
                                        "skipped"))
                return Annotation(self.paths[i], np.zeros((0, 4)), [], None, None, None,
                                  self.image_ids[i], problems)
            h, w = got
        boxes, labels, difficult = [], [], []
        for k, obj in enumerate(node.iter("object"), 1):
            name = (obj.findtext("name") or "").strip()
            where = f"object {k} ({name or 'no name'})"
            if name not in self._index_of:
                problems.append(Problem(xml, 0, f"{where}: class {name!r} is not in the class "
                                        "list; rejected"))
                continue
            bb = obj.find("bndbox")
            coords = [_number(bb, t) for t in ("xmin", "ymin", "xmax", "ymax")]
            if any(c is None for c in coords):
                problems.append(Problem(xml, 0, f"{where}: bndbox needs numeric xmin, ymin, xmax, "
                                        "ymax; rejected"))
                continue
            x1, y1, x2, y2 = (c - 1 for c in coords)  # type: ignore[operator]
            if x2 <= x1 or y2 <= y1:
                problems.append(Problem(xml, 0, f"{where}: box {coords} has no area; rejected"))
                continue
            if x1 < -1 or y1 < -1 or x2 > w or y2 > h:
                problems.append(Problem(xml, 0, f"{where}: box {coords} leaves the {w:g}x{h:g} "
                                        "image; clipped", fatal=False))
                x1, y1 = max(x1, 0.0), max(y1, 0.0)
                x2, y2 = min(x2, float(w)), min(y2, float(h))
            boxes.append((x1, y1, x2, y2))
            labels.append(self._index_of[name])
            difficult.append((obj.findtext("difficult") or "0").strip() not in ("0", ""))
        return Annotation(self.paths[i], np.asarray(boxes, np.float32).reshape(-1, 4), labels,
                          None, difficult, (int(h), int(w)), self.image_ids[i], problems)


def _split_ids(root: Path, split: str) -> List[str]:
    main = root / "ImageSets" / "Main"
    for name in SPLIT_FILES.get(split, (split,)):
        f = main / f"{name}.txt"
        if f.is_file():
            return [line.split()[0] for line in f.read_text().splitlines() if line.strip()]
    if main.is_dir() and any(main.glob("*.txt")):
        raise DataError(f"{main}: no {' or '.join(SPLIT_FILES.get(split, (split,)))}.txt "
                        f"for the {split!r} split")
    return sorted(p.stem for p in (root / "Annotations").glob("*.xml"))


def _names(root: Path, given: Optional[Sequence[str]]) -> List[str]:
    if given:
        return list(given)
    for name in NAME_FILES:
        if (root / name).is_file():
            names = [l.strip() for l in (root / name).read_text().splitlines() if l.strip()]
            if names:
                return names
    found = set()
    for xml in (root / "Annotations").glob("*.xml"):
        node, _ = _parse_xml(xml)
        if node is not None:
            found.update((o.findtext("name") or "").strip() for o in node.iter("object"))
    found.discard("")
    if not found:
        raise DataError(f"{root}: no object names in Annotations/*.xml (pass names=)")
    return list(VOC_NAMES) if found <= set(VOC_NAMES) else sorted(found)


def load_voc(root: os.PathLike, split: str = "train", *, names: Optional[Sequence[str]] = None,
             **kwargs: Any) -> VocDataset:
    """Read the ``split`` of a Pascal VOC directory."""
    root = Path(root)
    if not (root / "Annotations").is_dir():
        raise DataError(f"{root}: no Annotations/ directory")
    ids = _split_ids(root, split)
    return VocDataset(root, ids, _names(root, names), split=split, **kwargs)
