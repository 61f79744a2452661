"""One CSV row per finished trial, appended atomically.

Each append writes the whole table (old rows plus the new one) to a temporary file in the same
directory, flushes it to disk and ``os.replace``-s it over the CSV: a reader, or a run killed in
the middle of a write, sees either the old table or the new one, never half a row. The columns
are the union of every row's keys (first ``lead`` columns in order, then the others in the
order they first appeared), so rows of failed trials (no metrics) fit the same table.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Union

from ..atomic import atomic_write_text

PathLike = Union[str, "os.PathLike[str]"]


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
#: How non-finite floats are written, so that a status "nan" stays a string.
_SPECIAL = {"NaN": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _parse(text: str) -> Any:
    """A CSV cell back to int / float / str (empty -> None)."""
    if text == "":
        return None
    if text in _SPECIAL:
        return _SPECIAL[text]
    if not _NUMBER.match(text):
        return text
    try:
        return int(text)
    except ValueError:
        return float(text)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return str(value)


def read_records(path: PathLike) -> List[Dict[str, Any]]:
    """The rows of a records CSV (numbers parsed); ``[]`` when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_records(path: PathLike, rows: Sequence[Mapping[str, Any]],
                  lead: Sequence[str] = ()) -> None:
    """Replace ``path`` atomically by a CSV of ``rows`` (see the module docstring)."""
    path = Path(path)
    columns: List[str] = list(lead)
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    atomic_write_text(path, buf.getvalue())


def append_record(path: PathLike, row: Mapping[str, Any], lead: Sequence[str] = ()
                  ) -> List[Dict[str, Any]]:
    """Append ``row`` to the CSV at ``path`` atomically; returns all rows now in it, as
    :func:`read_records` would read them back (so a resumed search sees the same values)."""
    rows = read_records(path)
    rows.append({k: _parse(_cell(v)) for k, v in row.items()})   # as a later read gives it
    write_records(path, rows, lead)
    return rows


__all__ = ["read_records", "write_records", "append_record"]
