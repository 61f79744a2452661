"""Shared fixtures: where ../shared is, and small helpers for tests."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DARKNET = SHARED / "darknet"


@pytest.fixture(scope="session")
def shared_darknet() -> Path:
    """``../shared/darknet`` (official cfgs, COCO weights, photos); skips when absent."""
    if not DARKNET.is_dir():
        pytest.skip("../shared/darknet is absent (official cfgs, weights and photos)")
    return DARKNET
