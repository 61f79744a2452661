"""cfg reader/writer: round trips of every official cfg, Darknet parsing rules, errors, classes."""
from __future__ import annotations

import pytest

from yolov4.darknet.cfg import (make_section, parse_cfg_text, read_cfg, set_classes, write_cfg,
                                write_cfg_text)
from yolov4.errors import CfgError


def test_round_trip_every_official_cfg(shared_darknet, tmp_path):
    cfgs = sorted((shared_darknet / "cfg").glob("*.cfg"))
    assert len(cfgs) >= 10
    for path in cfgs:
        sections = read_cfg(path)
        assert parse_cfg_text(write_cfg_text(sections)) == sections
        write_cfg(sections, tmp_path / path.name)
        assert read_cfg(tmp_path / path.name) == sections


def test_darknet_parsing_rules():
    text = """# comment
[net]
width = 416
; another comment
height=320

[convolutional]
filters=32
filters=64
size = 3
activation=leaky
[max]
size=2
"""
    net, conv, pool = parse_cfg_text(text, "x.cfg")
    assert net.get_int("width") == 416 and net.get_int("height") == 320  # whitespace removed
    assert conv.get_int("filters") == 32  # first duplicate wins (option_find)
    assert conv.line == 7 and conv.key_lines["size"] == 10
    assert pool.type == "maxpool"  # Darknet's alias
    assert pool.get_int("stride", 1) == 1


def test_typed_getters_and_errors():
    s = parse_cfg_text("[net]\n[yolo]\nmask=0,1,2\nanchors=1.5, 2,3,4\nclasses=eight\n",
                       "y.cfg")[1]
    assert s.get_ints("mask") == [0, 1, 2]
    assert s.get_floats("anchors") == [1.5, 2.0, 3.0, 4.0]
    with pytest.raises(CfgError, match=r"y.cfg:5: \[yolo\] key 'classes'"):
        s.get_int("classes")
    with pytest.raises(CfgError, match="missing required key 'layers'"):
        s.get_ints("layers")


@pytest.mark.parametrize("text,pattern", [
    ("[net]\n[crop]\n", r"x.cfg:2: unknown layer type \[crop\]"),
    ("width=3\n[net]\n", r"x.cfg:1: option .* before any"),
    ("[net\n", r"x.cfg:1: section header"),
    ("[net]\nnonsense\n", r"x.cfg:2: expected 'key=value'"),
    ("# only a comment\n", r"x.cfg: no sections"),
])
def test_parse_errors_name_the_line(text, pattern):
    with pytest.raises(CfgError, match=pattern):
        parse_cfg_text(text, "x.cfg")


def test_read_missing_file(tmp_path):
    with pytest.raises(CfgError, match="not found"):
        read_cfg(tmp_path / "none.cfg")


def test_set_classes_rewrites_heads(shared_darknet):
    sections = read_cfg(shared_darknet / "cfg" / "yolov3.cfg")
    set_classes(sections, 7)
    for i, s in enumerate(sections):
        if s.type == "yolo":
            assert s.get_int("classes") == 7
            assert sections[i - 1].get_int("filters") == 3 * 12
    bad = [make_section("net"), make_section("maxpool"), make_section("yolo", classes=1)]
    with pytest.raises(CfgError, match="classes can only be changed"):
        set_classes(bad, 2)
