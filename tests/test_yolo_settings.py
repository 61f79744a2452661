"""YoloSettings: one reader of [yolo] keys, against Darknet's parse_yolo defaults and yolov4.cfg."""
from __future__ import annotations

import math

import pytest

from yolov4.darknet.cfg import make_section, parse_cfg_text, read_cfg
from yolov4.darknet.yolo_settings import YoloSettings, last_yolo_settings, yolo_settings
from yolov4.errors import CfgError
from yolov4.postprocess import nms_settings_from_sections


def test_defaults_are_parse_yolo_defaults():
    # the literal defaults of src/parser.c: parse_yolo (AlexeyAB/darknet)
    y = YoloSettings.from_section(make_section("yolo"))
    assert (y.classes, y.num, y.mask, y.anchors, y.max_boxes) == (20, 1, (0,), (0.5, 0.5), 200)
    assert (y.scale_x_y, y.new_coords, y.ignore_thresh, y.truth_thresh, y.iou_thresh) == \
        (1.0, False, 0.5, 1.0, 1.0)
    assert (y.iou_loss, y.iou_thresh_kind, y.iou_normalizer, y.obj_normalizer,
            y.cls_normalizer, y.delta_normalizer) == ("mse", "iou", 0.75, 1.0, 1.0, 1.0)
    assert (y.label_smooth_eps, y.objectness_smooth, y.focal_loss, y.max_delta) == \
        (0.0, False, False, math.inf)
    assert (y.nms_kind, y.beta_nms, y.jitter, y.resize, y.random) == \
        ("default", 0.6, 0.2, 1.0, 0.0)
    assert y.counters_per_class is None
    # mask defaults to every anchor, anchors to 0.5 each (make_yolo_layer's biases)
    y = YoloSettings.from_section(make_section("yolo", num=3))
    assert y.mask == (0, 1, 2) and y.anchors == (0.5,) * 6
    assert YoloSettings() == YoloSettings.from_section(make_section("yolo"))


def test_yolov4_cfg_values(shared_darknet):
    sections = read_cfg(shared_darknet / "cfg" / "yolov4.cfg")
    heads = yolo_settings(sections)
    assert [h.mask for h in heads] == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
    assert [h.scale_x_y for h in heads] == [1.2, 1.1, 1.05]
    first = heads[0]
    assert first.anchor_pairs[:2] == [(12.0, 16.0), (19.0, 36.0)] and len(first.anchors) == 18
    assert (first.classes, first.num, first.jitter, first.ignore_thresh, first.iou_thresh,
            first.iou_normalizer, first.iou_loss, first.nms_kind, first.max_delta) == \
        (80, 9, 0.3, 0.7, 0.213, 0.07, "ciou", "greedynms", 5.0)
    assert first.outputs_per_cell == 255
    assert last_yolo_settings(sections) == heads[-1]
    assert nms_settings_from_sections(sections) == ("diou", 0.6)  # greedynms = DIoU test


def test_errors_name_file_and_line():
    text = "[net]\n[yolo]\nnum=3\nanchors=1,2,3\n"
    with pytest.raises(CfgError, match=r"x.cfg:4: \[yolo\] key 'anchors'"):
        YoloSettings.from_section(parse_cfg_text(text, "x.cfg")[1])
    text = "[net]\n[yolo]\nnum=2\nmask=0,2\n"
    with pytest.raises(CfgError, match=r"x.cfg:4: \[yolo\] key 'mask'"):
        YoloSettings.from_section(parse_cfg_text(text, "x.cfg")[1])
    text = "[net]\n[yolo]\niou_loss=siou\n"
    with pytest.raises(CfgError, match=r"x.cfg:3: \[yolo\] key 'iou_loss'"):
        YoloSettings.from_section(parse_cfg_text(text, "x.cfg")[1])
    text = "[net]\n[yolo]\nclasses=2\ncounters_per_class=1,2,3\n"
    with pytest.raises(CfgError, match=r"x.cfg:4: \[yolo\] key 'counters_per_class'"):
        YoloSettings.from_section(parse_cfg_text(text, "x.cfg")[1])
    with pytest.raises(CfgError, match="scale_x_y"):
        YoloSettings.from_section(make_section("yolo", scale_x_y="big"))


def test_settings_are_frozen():
    y = YoloSettings()
    with pytest.raises(AttributeError):
        y.classes = 3  # type: ignore[misc]
