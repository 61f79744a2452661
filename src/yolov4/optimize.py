"""Moved (issue 13): the CPU inference optimisations now live in :mod:`yolov4.runtime`.

This module only re-exports their public names so existing imports keep working; new code
should import them from where they are defined:

- ``optimize_for_inference``, ``to_bfloat16``: :mod:`yolov4.runtime.optimize`
  (``optimize_for_inference`` now returns a :class:`yolov4.runtime.runner.TorchRunner`
  instead of the network, and no longer sets ``net.channels_last`` / ``net.input_dtype``);
- ``fast_mish``, ``compiled_mish``, ``FastMish``, ``replace_mish``: :mod:`yolov4.runtime.mish`;
- ``PackedConv2d``, ``pack_convolutions``, ``packing_available``: :mod:`yolov4.runtime.packed`;
- ``plan_inplace_routes``: :mod:`yolov4.runtime.routes`.
"""
from __future__ import annotations

from .runtime.mish import FastMish, compiled_mish, fast_mish, replace_mish  # noqa: F401
from .runtime.optimize import optimize_for_inference, to_bfloat16  # noqa: F401
from .runtime.packed import PackedConv2d, pack_convolutions, packing_available  # noqa: F401
from .runtime.routes import plan_inplace_routes  # noqa: F401

__all__ = ["FastMish", "PackedConv2d", "compiled_mish", "fast_mish", "optimize_for_inference",
           "pack_convolutions", "packing_available", "plan_inplace_routes", "replace_mish",
           "to_bfloat16"]
