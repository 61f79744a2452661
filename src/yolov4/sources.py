"""Inference sources: image paths, directories, glob patterns and video files."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, List, Union

import cv2

from .errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jfif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
PathLike = Union[str, "os.PathLike[str]"]


def is_video(path: PathLike) -> bool:
    """True if ``path`` names a video file by its suffix."""
    return Path(os.fspath(path)).suffix.lower() in VIDEO_SUFFIXES


def open_video(path: PathLike) -> "cv2.VideoCapture":
    """Open a video with OpenCV; :class:`DataError` naming the file if it cannot."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise DataError(f"{p}: video file not found")
    cap = cv2.VideoCapture(p)
    if not cap.isOpened():
        cap.release()
        raise DataError(f"{p}: cannot open video (not a video or corrupt)")
    return cap


def resolve_images(source: Any) -> List[str]:
    """A path, directory, glob pattern, or list of paths -> list of image paths.

    Raises:
        DataError: when a path does not exist or a directory/glob holds no images.
    """
    if isinstance(source, (list, tuple)):
        return [os.fspath(p) for p in source]
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"unsupported source type {type(source).__name__}")
    s = os.fspath(source)
    if os.path.isdir(s):
        paths = sorted(str(p) for p in Path(s).iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise DataError(f"{s}: directory holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return paths
    if os.path.exists(s):
        return [s]
    if any(ch in s for ch in "*?["):
        paths = sorted(p for p in glob.glob(s, recursive=True)
                       if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise DataError(f"{s}: pattern matches no images")
        return paths
    raise DataError(f"{s}: no such file or directory")
