"""``yolov4 serve``: detection over HTTP (FastAPI + uvicorn, the optional extra ``serve``).

``create_app(Detector(...), ServeSettings(...), source=...)`` is the ASGI application;
:mod:`.batcher` micro-batches requests, :mod:`.live` runs the ``--source`` stream,
:mod:`.formats` writes the JSON, :mod:`.metrics` counts. Importing this package needs
``fastapi``; ``pip install "yolov4[serve]"``.
"""
from __future__ import annotations

from .app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
