"""Dataset writers: any readable dataset to the YOLO layout, COCO JSON or Pascal VOC.

Images are copied byte for byte; boxes are written from the reader's xyxy pixels:

- YOLO: ``class cx cy w h`` relative, 6 decimals (error < 1e-6 x image size);
- COCO: ``bbox = [x, y, w, h]`` pixels, 3 decimals, ``area`` kept from a COCO source (box area
  otherwise); categories keep a COCO source's ids, else
  ``1..C``; VOC ``difficult`` is written as an extra ``"difficult": 1`` key that the reader reads
  back (pycocotools ignores it);
- VOC: integer corners ``xmin = round(x1) + 1``, ``xmax = round(x2) + 1`` (Darknet's
  ``voc_label.py`` convention, inverted), so a round trip moves an edge by at most 0.5 px.

Flags a format cannot hold: YOLO drops crowd boxes and keeps difficult objects as plain boxes;
VOC writes crowd boxes as ``difficult`` (both are ignored by evaluation). The counts are in the
returned :class:`ConvertReport`.
"""
from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

from ..errors import DataError
from .dataset import DetectionDataset
from .formats import load_dataset

TARGETS = ("yolo", "coco", "voc")


@dataclass
class ConvertReport:
    """What a conversion wrote: the path to load it from, and per-split counts."""

    path: Path
    images: Dict[str, int] = field(default_factory=dict)
    boxes: Dict[str, int] = field(default_factory=dict)
    skipped_images: List[str] = field(default_factory=list)
    dropped_crowd: int = 0
    flags_lost: int = 0

    def __str__(self) -> str:
        parts = [f"{s}: {self.images[s]} images, {self.boxes[s]} boxes" for s in self.images]
        text = f"wrote {self.path} ({'; '.join(parts)})"
        if self.skipped_images:
            text += f"; {len(self.skipped_images)} unreadable images skipped"
        if self.dropped_crowd:
            text += f"; {self.dropped_crowd} crowd boxes dropped (the format has no crowd flag)"
        if self.flags_lost:
            text += f"; {self.flags_lost} difficult/crowd flags written as plain boxes or difficult"
        return text


def _unique_names(paths: Sequence[str], taken: set) -> List[str]:
    out = []
    for p in paths:
        base = os.path.basename(p)
        stem, ext = os.path.splitext(base)
        name, k = base, 1
        while name.lower() in taken:
            name, k = f"{stem}_{k}{ext}", k + 1
        taken.add(name.lower())
        out.append(name)
    return out


def _splits(source: os.PathLike, splits: Sequence[str]) -> Dict[str, DetectionDataset]:
    from .formats import detect_format

    fmt, target = detect_format(source)
    if fmt == "coco" and target.is_file():  # one JSON holds one split
        splits = splits[:1]
    out = {}
    for split in splits:
        try:
            out[split] = load_dataset(source, split)
        except DataError:
            if split == splits[0]:
                raise
    return out


def convert(source: os.PathLike, to: str, out_dir: os.PathLike,
            splits: Sequence[str] = ("train", "val")) -> ConvertReport:
    """Convert every available split of ``source`` to format ``to`` under ``out_dir``.

    The first split must exist; later ones are skipped when the source has none.
    """
    if to not in TARGETS:
        raise DataError(f"unknown target format {to!r} (choose from {', '.join(TARGETS)})")
    datasets = _splits(source, splits)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writer = {"yolo": _write_yolo, "coco": _write_coco, "voc": _write_voc}[to]
    report = ConvertReport(path=out)
    writer(datasets, out, report)
    return report


def _usable(ds: DetectionDataset, report: ConvertReport) -> List[int]:
    keep = []
    for i in range(len(ds)):
        if ds.annotations(i).image_size is None:
            report.skipped_images.append(ds.paths[i])
        else:
            keep.append(i)
    return keep


def _write_yolo(datasets: Dict[str, DetectionDataset], out: Path, report: ConvertReport) -> None:
    names = next(iter(datasets.values())).names
    for split, ds in datasets.items():
        idx = _usable(ds, report)
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        files = _unique_names([ds.paths[i] for i in idx], set())
        nbox = 0
        for i, name in zip(idx, files):
            ann = ds.annotations(i)
            h, w = ann.image_size  # type: ignore[misc]
            shutil.copyfile(ds.paths[i], out / "images" / split / name)
            lines = []
            for b, c, crowd in zip(ann.boxes.tolist(), ann.labels.tolist(), ann.iscrowd.tolist()):
                if crowd:
                    report.dropped_crowd += 1
                    continue
                lines.append(f"{c} {(b[0] + b[2]) / 2 / w:.6f} {(b[1] + b[3]) / 2 / h:.6f} "
                             f"{(b[2] - b[0]) / w:.6f} {(b[3] - b[1]) / h:.6f}\n")
            report.flags_lost += int(ann.difficult.sum())
            nbox += len(lines)
            label = out / "labels" / split / (os.path.splitext(name)[0] + ".txt")
            label.write_text("".join(lines))
        report.images[split], report.boxes[split] = len(idx), nbox
    yaml_lines = [f"path: {out.resolve()}"] + [f"{s}: images/{s}" for s in datasets]
    yaml_lines += [f"nc: {len(names)}", "names:"] + [f"  {k}: {json.dumps(n)}"
                                                      for k, n in enumerate(names)]
    (out / "data.yaml").write_text("\n".join(yaml_lines) + "\n")
    report.path = out / "data.yaml"


def _write_coco(datasets: Dict[str, DetectionDataset], out: Path, report: ConvertReport) -> None:
    first = next(iter(datasets.values()))
    cat_ids = first.category_ids if first.format == "coco" else list(range(1, len(first.names) + 1))
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split, ds in datasets.items():
        idx = _usable(ds, report)
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        files = _unique_names([ds.paths[i] for i in idx], set())
        images, anns = [], []
        for image_id, (i, name) in enumerate(zip(idx, files), 1):
            ann = ds.annotations(i)
            h, w = ann.image_size  # type: ignore[misc]
            shutil.copyfile(ds.paths[i], out / "images" / split / name)
            images.append({"id": image_id, "file_name": name, "width": w, "height": h})
            areas = ann.area.tolist() if ann.area is not None else [None] * len(ann.labels)
            for b, c, crowd, diff, area in zip(ann.boxes.tolist(), ann.labels.tolist(),
                                               ann.iscrowd.tolist(), ann.difficult.tolist(), areas):
                bw, bh = b[2] - b[0], b[3] - b[1]
                entry = {"id": len(anns) + 1, "image_id": image_id, "category_id": cat_ids[c],
                         "bbox": [round(b[0], 3), round(b[1], 3), round(bw, 3), round(bh, 3)],
                         "area": round(bw * bh if area is None else area, 3),
                         "iscrowd": int(crowd)}
                if diff:
                    entry["difficult"] = 1
                anns.append(entry)
        cats = [{"id": cid, "name": n, "supercategory": ""} for cid, n in zip(cat_ids, first.names)]
        data = {"info": {"description": f"converted from {first.source}"}, "images": images,
                "annotations": anns, "categories": cats}
        with open(out / "annotations" / f"instances_{split}.json", "w", encoding="utf-8") as f:
            json.dump(data, f)
        report.images[split], report.boxes[split] = len(idx), len(anns)


def _write_voc(datasets: Dict[str, DetectionDataset], out: Path, report: ConvertReport) -> None:
    names = next(iter(datasets.values())).names
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / "labels.txt").write_text("".join(n + "\n" for n in names))
    taken: set = set()
    for split, ds in datasets.items():
        idx = _usable(ds, report)
        files = _unique_names([ds.paths[i] for i in idx], taken)
        ids, nbox = [], 0
        for i, name in zip(idx, files):
            ann = ds.annotations(i)
            h, w = ann.image_size  # type: ignore[misc]
            image_id = os.path.splitext(name)[0]
            shutil.copyfile(ds.paths[i], out / "JPEGImages" / name)
            root = ET.Element("annotation")
            ET.SubElement(root, "folder").text = "JPEGImages"
            ET.SubElement(root, "filename").text = name
            size = ET.SubElement(root, "size")
            for tag, v in (("width", w), ("height", h), ("depth", 3)):
                ET.SubElement(size, tag).text = str(v)
            for b, c, crowd, diff in zip(ann.boxes.tolist(), ann.labels.tolist(),
                                         ann.iscrowd.tolist(), ann.difficult.tolist()):
                obj = ET.SubElement(root, "object")
                ET.SubElement(obj, "name").text = names[c]
                ET.SubElement(obj, "truncated").text = "0"
                ET.SubElement(obj, "difficult").text = str(int(crowd or diff))
                report.flags_lost += int(crowd)
                bb = ET.SubElement(obj, "bndbox")
                for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), b):
                    ET.SubElement(bb, tag).text = str(int(round(v)) + 1)
                nbox += 1
            ET.indent(root)
            ET.ElementTree(root).write(out / "Annotations" / f"{image_id}.xml", encoding="utf-8")
            ids.append(image_id)
        (out / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(i + "\n" for i in ids))
        report.images[split], report.boxes[split] = len(idx), nbox
