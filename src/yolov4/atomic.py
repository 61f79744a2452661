"""Atomic file writes: nothing a user keeps (checkpoints, trial records, settings) is ever left
half-written.

``atomic_write(path, write)`` calls ``write(f)`` on a temp file in ``path``'s folder, flushes and
fsyncs it, ``os.replace``-s it over ``path`` and fsyncs the folder, so a reader (or a run killed
at any point) sees either the old file or the new one. On an error the temp file is removed and
the error re-raised.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

PathLike = Union[str, "os.PathLike[str]"]


def atomic_write(path: PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write ``path`` atomically with ``write(binary_file)``; returns ``path`` as a Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(str(path.parent), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def atomic_write_text(path: PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def atomic_copy(src: PathLike, dest: PathLike) -> Path:
    """Copy ``src`` to ``dest`` atomically."""
    def write(f: BinaryIO) -> None:
        with open(src, "rb") as s:
            while True:
                chunk = s.read(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
    return atomic_write(dest, write)
