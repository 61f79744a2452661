"""Model zoo: builders that write Darknet sections, a registry, and ``create_model``.

One model representation: a model is a Darknet layer graph. A named architecture is a function
that writes the sections (``[net]`` first) through :class:`Builder`, so every zoo model can be
saved as a ``.cfg`` and, with default options, equals the official cfg layer for layer (the
official ``.weights`` load into it).

>>> sections = build_sections("yolov4", classes=20, width=416, height=416)   # list[Section]
>>> net = create_model("yolov4-tiny", classes=3, width_multiple=0.25)        # Darknet graph

Registered: ``yolov4``, ``yolov4-tiny``, ``yolov4-csp``, ``yolov3``, ``yolov3-tiny``,
``csresnext50-panet-spp`` (the paper's CSPResNeXt50 backbone with SPP + PAN), and the
classifiers ``cspdarknet53`` (= ``csdarknet53-omega.cfg``) and ``cspdarknet53-tiny`` on the
YOLOv4 / YOLOv4-tiny backbones (``yolov4.models.classifier``).
Options shared by all: ``classes``, ``width``, ``height``, ``anchors``, ``masks``,
``width_multiple``, ``depth_multiple``, ``net={...}`` ([net] keys), ``cmbn``, ``activation``,
``sam`` and any [yolo] key of ``head.YOLO_OPTIONS`` (``iou_loss``, ``iou_normalizer``,
``iou_thresh``, ``scale_x_y``, ``nms_kind``, ...; a list gives one value per head).
Architecture switches where the model has them (see ``model_options(name)``): ``csp``, ``spp``,
``neck`` ("pan"/"fpn"), ``dropblock`` (+ ``dropblock_prob``, ``dropblock_size``),
``backbone_activation``/``neck_activation`` (yolov4).
"""
from .builder import Abs, Builder, ModelError, make_divisible
from .registry import (build_sections, create_model, get_builder, list_models, model_options,
                       register)
from . import yolov3 as _yolov3, yolov4 as _yolov4, yolov4_csp as _yolov4_csp  # noqa: F401
from . import csresnext50 as _csresnext50, yolov4_tiny as _yolov4_tiny  # noqa: F401
from . import classifier as _classifier  # noqa: F401
# (importing a builder module registers its models)

__all__ = ["Abs", "Builder", "ModelError", "build_sections", "create_model", "get_builder",
           "list_models", "make_divisible", "model_options", "register"]
