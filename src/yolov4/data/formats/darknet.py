"""Darknet datasets: an ``obj.data`` file (``classes=``, ``train=``, ``valid=``, ``names=``).

``train``/``valid`` are list files of image paths; a relative path is tried against the current
directory, the list file's directory and the ``.data`` file's directory (Darknet itself only uses
the current directory); the names and list files are also looked for by their base name next to
the ``.data`` file. Labels sit where Darknet looks for them: the last ``images`` or
``JPEGImages`` directory component replaced by ``labels`` and the extension by ``.txt``
(``src/utils.c: replace_image_to_label``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List

from ...errors import DataError
from ..labels import Problem
from .yolo import LabelFileDataset, read_list_file, resolve_entry

#: Which ``.data`` keys hold each split.
SPLIT_KEYS = {"train": ("train",), "val": ("valid", "val"), "test": ("test", "valid")}


def read_data_file(path: Path) -> Dict[str, str]:
    """``key -> value`` of a Darknet ``.data`` file (``#`` comments, first duplicate wins)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None
    out: Dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if "=" not in line:
            raise DataError(f"{path}:{number}: expected 'key = value', found {line!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        out.setdefault(key, value)
    return out


def read_names(path: Path) -> List[str]:
    """Class names, one per line (blank lines at the end ignored)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise DataError(f"{path}: names file cannot be read ({err.strerror})") from None
    names = [line.strip() for line in lines]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise DataError(f"{path}: names file is empty")
    return names


def load_darknet(data_path: os.PathLike, split: str = "train", **kwargs: Any) -> LabelFileDataset:
    """Read the ``split`` of the dataset an ``obj.data`` file describes."""
    data_path = Path(data_path)
    meta = read_data_file(data_path)
    bases = [Path.cwd(), data_path.parent]
    if "names" not in meta:
        raise DataError(f"{data_path}: no 'names=' entry")
    names_file = (resolve_entry(meta["names"], bases)  # else next to the .data (moved dataset)
                  or resolve_entry(os.path.basename(meta["names"]), [data_path.parent]))
    if names_file is None:
        raise DataError(f"{data_path}: names file {meta['names']!r} not found")
    names = read_names(Path(names_file))
    problems: List[Problem] = []
    if "classes" in meta:
        try:
            classes = int(meta["classes"])
        except ValueError:
            raise DataError(f"{data_path}: classes={meta['classes']!r} is not an integer") from None
        if classes != len(names):
            problems.append(Problem(str(data_path), 0, f"classes={classes} but {names_file} has "
                                    f"{len(names)} names; the names are used", fatal=True))
    key = next((k for k in SPLIT_KEYS.get(split, (split,)) if k in meta), None)
    if key is None:
        raise DataError(f"{data_path}: no {' or '.join(SPLIT_KEYS.get(split, (split,)))}= entry "
                        f"for the {split!r} split")
    list_file = (resolve_entry(meta[key], bases)
                 or resolve_entry(os.path.basename(meta[key]), [data_path.parent]))
    if list_file is None:
        raise DataError(f"{data_path}: {key} list {meta[key]!r} not found")
    paths, bad = read_list_file(Path(list_file), bases)
    problems.extend(bad)
    ds = LabelFileDataset(paths, names, label_dirs=("images", "JPEGImages"), source=str(data_path),
                          split=split, **kwargs)
    ds.format = "darknet"
    ds.problems.extend(problems)
    ds._report(problems)
    return ds
