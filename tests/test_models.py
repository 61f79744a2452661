"""Model zoo builders: layer graphs against the official cfgs, option variants, errors.

Oracles: the official Darknet cfgs in ../shared/darknet/cfg (layer by layer), the float counts
of the official weights files (issue facts), hand-derived layer/float counts for the variants,
and the independent static shape inference in ``yolov4.darknet.shapes`` for every option
combination.
"""
from __future__ import annotations

import itertools
from typing import Dict, List

import pytest

from yolov4.darknet.cfg import Section, make_section, parse_cfg_text, read_cfg, write_cfg_text
from yolov4.darknet.shapes import count_weights, infer_layers
from yolov4.models import (Abs, Builder, ModelError, build_sections, list_models,
                           make_divisible, model_options)


OFFICIAL = {"yolov4": "yolov4.cfg", "yolov4-tiny": "yolov4-tiny.cfg",
            "yolov4-csp": "yolov4-csp.cfg", "yolov3": "yolov3.cfg",
            "yolov3-tiny": "yolov3-tiny.cfg", "csresnext50-panet-spp": "csresnext50-panet-spp.cfg"}
#: Floats in the official weights files (issue 2 facts; yolov4.weights is 257,717,640 bytes =
#: 20-byte header + 4 x 64,429,405).
FLOATS = {"yolov4": 64_429_405, "yolov4-tiny": 6_062_814, "yolov3": 62_001_757,
          "yolov3-tiny": 8_858_734}


def _value(raw: str) -> List[object]:
    """A cfg value as a list of numbers (``".7"`` == ``"0.7"``) or strings."""
    out: List[object] = []
    for item in raw.split(","):
        try:
            out.append(float(item))
        except ValueError:
            out.append(item)
    return out


def _canon(section: Section) -> Dict[str, List[object]]:
    return {k: _value(v) for k, v in section.options.items()}


def test_registry_lists_the_zoo() -> None:
    assert set(OFFICIAL) <= set(list_models())
    assert "spp" in model_options("yolov4") and "neck" in model_options("yolov4")


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_default_builder_matches_official_cfg(name: str, shared_darknet) -> None:
    official = read_cfg(shared_darknet / "cfg" / OFFICIAL[name])
    built = build_sections(name)
    assert len(built) == len(official), (len(built), len(official))
    # every layer: same type and the same keys with the same values (numbers compared as
    # numbers, route/shortcut references as written: relative or absolute like the cfg)
    for i, (ours, ref) in enumerate(zip(built[1:], official[1:])):
        assert ours.type == ref.type, f"layer {i}: [{ours.type}] vs [{ref.type}]"
        assert _canon(ours) == _canon(ref), f"layer {i} [{ref.type}] (cfg line {ref.line})"
    # [net]: the official training keys (yolov3*.cfg ship with the testing batch=1)
    net, ref_net = _canon(built[0]), _canon(official[0])
    for key in set(ref_net) - {"batch", "subdivisions"}:
        assert net[key] == ref_net[key], key
    assert {"batch", "subdivisions", "learning_rate", "max_batches", "steps"} <= set(net)


@pytest.mark.parametrize("name", sorted(FLOATS))
def test_float_count_is_the_official_weights(name: str) -> None:
    assert count_weights(build_sections(name)) == FLOATS[name]


@pytest.mark.parametrize("name, size, bflops", [
    ("yolov4", 608, 128.46), ("yolov4", 416, 60.14), ("yolov4-tiny", 416, 6.91),  # shared README
    ("yolov3", 416, 65.879), ("yolov3-tiny", 416, 5.571),  # Darknet's "Total BFLOPS" lines
])
def test_darknet_bflops(name: str, size: int, bflops: float) -> None:
    specs = infer_layers(build_sections(name, width=size, height=size))
    assert sum(sp.bflops for sp in specs) == pytest.approx(bflops, abs=0.006)


def test_yolov3_spp_variant_hand_derived() -> None:
    # yolov3-spp.cfg: the top level's 5 convs become 3 convs, SPP (3 maxpools, 3 routes) and
    # 3 convs: +7 layers, so the [yolo] layers move from 82/94/106 to 89/101/113. The one extra
    # weight layer is the 1x1 conv 2048 -> 512 with BN: 512*2048 + 4*512 = 1,050,624 floats.
    sections = build_sections("yolov3", spp=True)
    yolo = [i - 1 for i, s in enumerate(sections) if s.type == "yolo"]
    assert yolo == [89, 101, 113]
    assert count_weights(sections) == 62_001_757 + 1_050_624


def test_yolov4_switches_change_the_graph_as_the_paper() -> None:
    base = build_sections("yolov4")
    types = lambda ss: [s.type for s in ss]  # noqa: E731

    no_spp = build_sections("yolov4", spp=False)
    assert "maxpool" not in types(no_spp) and len(no_spp) == len(base) - 7

    with_sam = build_sections("yolov4", sam=True)
    sams = [i for i, s in enumerate(with_sam) if s.type == "sam"]
    assert len(sams) == 3 and len(with_sam) == len(base) + 6
    specs = infer_layers(with_sam)
    for i, width in zip(sams, (128, 256, 512)):  # the three PAN outputs
        # conv (logistic, one filter per channel of the map) then [sam] from=-2
        conv = with_sam[i - 1]
        assert conv.options["activation"] == "logistic" and with_sam[i].options["from"] == "-2"
        assert conv.get_int("filters") == specs[i - 3].out_shape[0] == width
    # the PAN's downsampling path and the heads read the SAM output: each [yolo] is 3 layers
    # after a [sam]
    yolo = [i for i, s in enumerate(with_sam) if s.type == "yolo"]
    assert [y - 3 for y in yolo] == sams

    fpn = build_sections("yolov4", neck="fpn")
    # FPN drops the two bottom-up steps (route, 3x3/2 conv, route, 5 convs) = 2 x 8 layers;
    # the two upper heads then need a route back to their level: +2
    assert len(fpn) == len(base) - 16 + 2
    neck = [s for s in fpn[105:] if s.type == "convolutional"]
    assert all(s.get_int("stride", 1) == 1 for s in neck)

    plain = build_sections("yolov4", csp=False)
    # Darknet-53 backbone: 1 + (1 + 3*1) + (1 + 3*2) + (1 + 3*8)*2 + (1 + 3*4) = 75 layers,
    # the same layer sequence as yolov3.cfg's first 75 layers apart from the activation
    v3 = build_sections("yolov3")
    for ours, ref in zip(plain[1:76], v3[1:76]):
        o, r = dict(ours.options), dict(ref.options)
        o.pop("activation", None), r.pop("activation", None)
        assert ours.type == ref.type and o == r

    cmbn = build_sections("yolov4", cmbn=True)
    bn = {s.options.get("batch_normalize") for s in cmbn if s.type == "convolutional"}
    assert bn == {"2", None}  # prediction convs have no BN

    drop = build_sections("yolov4", dropblock=True, dropblock_prob=0.2, dropblock_size=5)
    blocks = [s for s in drop if s.type == "dropout"]
    assert len(blocks) == 6  # after backbone stages 3-5 and the three PAN outputs
    assert all(_canon(s) == {"probability": [0.2], "dropblock": [1.0],
                             "dropblock_size_abs": [5.0]} for s in blocks)
    assert count_weights(drop) == count_weights(base)

    swish = build_sections("yolov4", activation="swish")
    acts = {s.options["activation"] for s in swish if s.type == "convolutional"}
    assert acts == {"swish", "linear"}


def test_none_options_mean_the_defaults() -> None:
    for name in list_models():
        assert build_sections(name, activation=None, sam=None, iou_loss=None) == \
            build_sections(name)


def test_yolo_options_and_classes() -> None:
    s = build_sections("yolov4", classes=3, iou_loss="giou", iou_normalizer=0.5,
                       scale_x_y=[1.0, 1.5, 2.0], nms_kind="diounms", iou_thresh=1.0)
    yolo = [x for x in s if x.type == "yolo"]
    assert [x.get_float("scale_x_y") for x in yolo] == [1.0, 1.5, 2.0]
    assert all(x.get_int("classes") == 3 and x.options["iou_loss"] == "giou"
               and x.options["nms_kind"] == "diounms" for x in yolo)
    preds = [s[i - 1] for i, x in enumerate(s) if x.type == "yolo"]
    assert [p.get_int("filters") for p in preds] == [3 * (5 + 3)] * 3
    assert {p.options["activation"] for p in preds} == {"linear"}
    # new_coords=1 heads: the prediction conv applies the logistic (the [yolo] layer does not)
    for name, value, act in (("yolov4-tiny", 1, "logistic"), ("yolov4-csp", 0, "linear")):
        s = build_sections(name, new_coords=value)
        preds = [s[i - 1] for i, x in enumerate(s) if x.type == "yolo"]
        assert {p.options["activation"] for p in preds} == {act}
        assert {x.get_int("new_coords") for x in s if x.type == "yolo"} == {value}


def test_custom_anchors_and_masks() -> None:
    anchors = [(i + 1, 2 * i + 1) for i in range(6)]
    s = build_sections("yolov3", anchors=anchors)  # 6 anchors over 3 heads, coarsest first
    yolo = [x for x in s if x.type == "yolo"]
    assert [x.get_ints("mask") for x in yolo] == [[4, 5], [2, 3], [0, 1]]
    assert all(x.get_int("num") == 6 for x in yolo)
    assert yolo[0].get_ints("anchors") == [1, 1, 2, 3, 3, 5, 4, 7, 5, 9, 6, 11]
    tiny = build_sections("yolov4-tiny", anchors="1,2, 3,4, 5,6, 7,8, 9,10, 11,12")
    assert [x.get_ints("mask") for x in tiny if x.type == "yolo"] == [[3, 4, 5], [0, 1, 2]]


def test_width_depth_multipliers() -> None:
    s = build_sections("yolov4", width_multiple=0.25, depth_multiple=0.33)
    convs = [x for x in s if x.type == "convolutional" and x.options.get("batch_normalize")]
    assert all(x.get_int("filters") % 8 == 0 for x in convs)
    assert max(x.get_int("filters") for x in convs) == 256  # 1024 * 0.25
    # residual blocks per stage: round(n * 0.33), at least 1 -> 1, 1, 3, 3, 1
    backbone = s[1:105]
    assert sum(x.type == "shortcut" for x in backbone) == 1 + 1 + 3 + 3 + 1
    assert make_divisible(64 * 0.25) == 16 and make_divisible(20) == 24
    assert make_divisible(3) == 8 and make_divisible(100) == 104


OPTION_GRID = {
    "yolov4": dict(activation=["leaky", "mish", "swish"], csp=[True, False],
                   spp=[True, False], sam=[False, True], neck=["pan", "fpn"],
                   dropblock=[False, True], cmbn=[False, True]),
    "yolov4-csp": dict(activation=["mish", "leaky"], csp=[True, False], spp=[True, False],
                       sam=[False, True], neck=["pan", "fpn"], dropblock=[False, True]),
    "yolov3": dict(activation=["leaky", "swish"], csp=[False, True], spp=[False, True],
                   sam=[False, True], dropblock=[False, True]),
    "yolov4-tiny": dict(activation=["leaky", "mish"], sam=[False, True], cmbn=[False, True]),
    "yolov3-tiny": dict(activation=["leaky", "swish"], sam=[False, True]),
    "csresnext50-panet-spp": dict(activation=["leaky", "mish"], spp=[True, False],
                                  sam=[False, True], neck=["pan", "fpn"],
                                  dropblock=[False, True]),
}


@pytest.mark.parametrize("name", sorted(OPTION_GRID))
def test_every_option_combination_is_a_valid_graph(name: str) -> None:
    grid = OPTION_GRID[name]
    for values in itertools.product(*grid.values()):
        options = dict(zip(grid, values))
        sections = build_sections(name, classes=2, width=96, height=64, width_multiple=0.25,
                                  depth_multiple=0.33, **options)
        # the independent static checker accepts it (route shapes agree, indices precede)
        specs = infer_layers(sections)
        heads = [sp for sp in specs if sp.type == "yolo"]
        assert heads and all(sp.out_shape[0] == 3 * 7 for sp in heads), options
        for sp in specs:  # [sam] multiplies maps of equal shape
            if sp.type == "sam":
                assert specs[sp.sources[0]].out_shape == sp.in_shape, options
        # write -> parse gives the same sections
        assert parse_cfg_text(write_cfg_text(sections)) == sections, options


def test_builder_channels_agree_with_shape_inference() -> None:
    sections = build_sections("yolov4-csp", sam=True, width_multiple=0.5)
    b = Builder(sections[0])
    for s in sections[1:]:
        b.add(s.type, **s.options)
    specs = infer_layers(sections)
    assert b.channels == [sp.out_shape[0] for sp in specs]


def test_builder_writes_relative_and_absolute_references() -> None:
    b = Builder(make_section("net", width=64, height=64, channels=3))
    a = b.conv(8, 3)
    b.conv(16, 3, 2)
    b.conv(8, 1)
    r = b.route(b.last, a)
    assert b.sections[-1].options["layers"] == "-1,-3" and b.out_channels(r) == 16
    b.route(Abs(a))
    assert b.sections[-1].options["layers"] == "0"
    b.shortcut(a)
    assert b.sections[-1].options["from"] == "-5"
    with pytest.raises(ModelError, match="does not precede"):
        b.route(b.last + 1)


@pytest.mark.parametrize("call, match", [
    (lambda: build_sections("yolov5"), "unknown model 'yolov5'"),
    (lambda: build_sections("yolov4", spp_kind=2), "unknown option"),
    (lambda: build_sections("yolov4", activation="tanhh"), "activation"),
    (lambda: build_sections("yolov4", neck="bifpn"), "neck"),
    (lambda: build_sections("yolov4", width=600), "multiple of 32"),
    (lambda: build_sections("yolov4", anchors=[1, 2, 3]), "pairs"),
    (lambda: build_sections("yolov4", anchors=[1, 2] * 4), "split evenly"),
    (lambda: build_sections("yolov4", masks=[[0], [1], [9]]), "mask"),
    (lambda: build_sections("yolov4", iou_loss="xiou"), "iou_loss"),
    (lambda: build_sections("yolov4", scale_x_y=[1.0, 1.1]), "2 values for 3 heads"),
    (lambda: build_sections("yolov4", classes=0), "classes"),
    (lambda: build_sections("yolov4", new_coords=2), "new_coords"),
    (lambda: build_sections("yolov4", width_multiple=0), "width_multiple"),
    (lambda: build_sections("yolov4", dropblock=True, dropblock_prob=1.5), "dropblock_prob"),
])
def test_bad_options_raise_model_error(call, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        call()
