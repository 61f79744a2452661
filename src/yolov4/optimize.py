"""Moved (issue 13): the CPU inference optimisations now live in :mod:`yolov4.runtime`.

This module only re-exports their public names so existing imports keep working; new code
should import from :mod:`yolov4.runtime.optimize` (and its siblings).
"""
from __future__ import annotations

from .runtime.optimize import (FastMish, PackedConv2d, compiled_mish, fast_mish,  # noqa: F401
                               optimize_for_inference, pack_convolutions, packing_available,
                               plan_inplace_routes, replace_mish, to_bfloat16)

__all__ = ["FastMish", "PackedConv2d", "compiled_mish", "fast_mish", "optimize_for_inference",
           "pack_convolutions", "packing_available", "plan_inplace_routes", "replace_mish",
           "to_bfloat16"]
