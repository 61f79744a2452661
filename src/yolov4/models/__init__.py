"""Model zoo: builders that write Darknet sections, a registry, and ``create_model``.

``build_sections("yolov4", classes=20)`` returns the cfg sections; ``create_model`` builds the
layer graph from them. Registered: yolov4, yolov4-tiny, yolov4-csp, yolov3, yolov3-tiny.
"""
from .builder import Abs, Builder, ModelError, make_divisible
from .registry import build_sections, create_model, get_builder, list_models, model_options, register
from . import yolov3 as _yolov3, yolov4 as _yolov4, yolov4_csp as _yolov4_csp  # noqa: F401
from . import yolov4_tiny as _yolov4_tiny  # noqa: F401  (importing a builder registers it)

__all__ = ["Abs", "Builder", "ModelError", "build_sections", "create_model", "get_builder",
           "list_models", "make_divisible", "model_options", "register"]
