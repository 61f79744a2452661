"""Shared fixtures: where ../shared is, and small helpers for tests."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DARKNET = SHARED / "darknet"


@pytest.fixture(scope="session")
def shared_darknet() -> Path:
    """``../shared/darknet`` (official cfgs, COCO weights, photos); skips when absent."""
    if not DARKNET.is_dir():
        pytest.skip("../shared/darknet is absent (official cfgs, weights and photos)")
    return DARKNET


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for a whole test module (tiny tensors: avoids OpenMP stalls on
    the shared 2-core machine). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
