"""``yolov4 info`` and the Darknet layer table: published BFLOPs, parameter counts, CLI errors."""
from __future__ import annotations

import pytest

from yolov4.cli import main
from yolov4.darknet.cfg import read_cfg
from yolov4.darknet.summary import summarize


@pytest.mark.parametrize("name,size,bflops", [
    ("yolov4.cfg", 608, 128.46), ("yolov4.cfg", 416, 60.14), ("yolov4-tiny.cfg", 416, 6.91),
])
def test_published_bflops(shared_darknet, name, size, bflops):
    summary = summarize(read_cfg(shared_darknet / "cfg" / name), size, size)
    assert round(summary.bflops, 2) == bflops


def test_table_lines_match_darknet_format(shared_darknet):
    lines = summarize(read_cfg(shared_darknet / "cfg" / "yolov4.cfg")).lines
    # as AlexeyAB darknet prints yolov4.cfg at 608x608 (make_convolutional_layer & co.)
    assert lines[0] == "   layer   filters  size/strd(dil)      input                output"
    assert lines[1] == ("   0 conv     32       3 x 3/ 1    608 x 608 x   3 ->  608 x 608 x  32 "
                        "0.639 BF")
    assert lines[8] == "   7 Shortcut Layer: 4,  wt = 0, wn = 0, outputs: 304 x 304 x  64 0.006 BF"
    # SPP: layers 105-116 (DARKNET_SEMANTICS §8), the first maxpool is 108
    assert (" 108 max                5x 5/ 1     19 x  19 x 512 ->   19 x  19 x 512 0.005 BF"
            in "\n".join(lines))
    assert lines[-1] == "Total BFLOPS 128.459 "


def test_info_cli_on_cfg(shared_darknet, capsys):
    assert main(["info", str(shared_darknet / "cfg" / "yolov4-tiny.cfg"), "--size", "416"]) == 0
    out = capsys.readouterr().out
    assert "Total BFLOPS 6.910" in out
    # 6,062,814 floats in the .weights file; minus BN rolling mean/var (2 x 3,104 channels)
    assert "6,062,814 floats (24,251,276 bytes)" in out and "6,056,606 trainable" in out
    assert "[yolo] params: iou loss: ciou (4), iou_norm: 0.07" in out


def test_info_cli_classes_and_rectangular_size(shared_darknet, capsys):
    cfg = str(shared_darknet / "cfg" / "yolov3-tiny.cfg")
    assert main(["info", cfg, "--size", "320", "256", "--classes", "2"]) == 0
    out = capsys.readouterr().out
    assert "Input 320 x 256 x 3" in out
    assert "->   20 x  16 x  21" in out  # head conv filters 3*(5+2)


def test_info_cli_zoo_name(capsys):
    pytest.importorskip("yolov4.models")
    from yolov4.models import list_models
    if "yolov4" not in list_models():
        pytest.skip("zoo has no yolov4 yet")
    assert main(["info", "yolov4", "--size", "416"]) == 0
    assert "Total BFLOPS 60.137" in capsys.readouterr().out


def test_info_cli_errors(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing-model")]) == 2
    assert "neither a .cfg file nor a zoo model" in capsys.readouterr().err
    bad = tmp_path / "bad.cfg"
    bad.write_text("[net]\nwidth=64\nheight=64\n[convolutional]\nfilters=x\n")
    assert main(["info", str(bad)]) == 2
    assert "bad.cfg:5" in capsys.readouterr().err
    assert main(["info", str(bad), "--size", "1", "2", "3"]) == 2
