"""Fix three CPU-only backward bugs of AlexeyAB/darknet so that its CPU build trains as its GPU build.

The CPU build of AlexeyAB/darknet computes wrong gradients in three places (its GPU/cuDNN path is
right); a reference run on CPU must fix all, or it is not Darknet's training:

1. ``src/col2im.c: col2im_cpu_ext`` starts with ``caffe_set(..., 0, data_im)``: every
   ``[convolutional]`` backward *overwrites* its input layer's delta instead of adding to it, so
   what a ``[route]``/``[shortcut]`` from a later layer had already added there is lost
   (AlexeyAB/darknet#7320, open; the maintainer's suggested fix is to delete that line). In
   yolov4-tiny this drops the 20x20 head's gradient into layers 26-27 and the CSP routes' into
   layers 4, 12 and 20. cuDNN's ``cudnnConvolutionBackwardData`` is called with beta = 1
   (accumulate).
2. ``src/batchnorm_layer.c: backward_batchnorm_layer`` never calls ``backward_bias``, so on CPU
   the biases (BN beta) of ``batch_normalize=1`` layers get no gradient; the GPU path
   (``backward_batchnorm_layer_gpu`` / cuDNN's BN backward) does compute it.

3. ``src/network.c: forward_network`` zeroes a layer's delta before its forward only when
   ``l.train`` is set, and ``make_route_layer`` never sets it: a ``[route]`` layer's delta is
   never cleared on CPU. The zeroing in ``col2im_cpu_ext`` (bug 1) used to clear it when the
   conv after the route ran its backward; with bug 1 fixed alone, route deltas *accumulate
   across iterations* and the trunk below every route gets the sum of all past gradients
   (update 2 at a tiny lr moved layer 0 by 11x one update instead of momentum's 2.9x).
   ``forward_network_gpu`` zeroes every delta (``if(l.delta_gpu && state.train)``).

With all three fixed, one update of yolov4-tiny on CPU equals ours (``recipe=darknet``) layer by layer
to ~0.1-3 % (float32, -Ofast), see ``benchmarks/darknet_step.py``.

    python benchmarks/darknet_cpu_fixes.py /path/to/darknet-src   # idempotent
    ../shared/tools/build-darknet /path/to/darknet-src
"""
from __future__ import annotations

import argparse
from pathlib import Path

MARK = "yolov4 reference build"

#: (file, text to find, replacement)
FIXES = [
    ("src/col2im.c",
     "    caffe_set(height * width * channels, 0.0F, data_im);\n",
     f"    // {MARK}: accumulate into data_im, as cuDNN does (AlexeyAB/darknet#7320)\n"),
    ("src/network.c",
     "        if(l.delta && state.train && l.train){\n"
     "            scal_cpu(l.outputs * l.batch, 0, l.delta, 1);\n",
     f"        // {MARK}: every delta zeroed before each forward, as forward_network_gpu does\n"
     "        if(l.delta && state.train){\n"
     "            scal_cpu(l.outputs * l.batch, 0, l.delta, 1);\n"),
    ("src/batchnorm_layer.c",
     "void backward_batchnorm_layer(const layer l, network_state state)\n{\n",
     "void backward_bias(float *bias_updates, float *delta, int batch, int n, int size);\n"
     "void backward_batchnorm_layer(const layer l, network_state state)\n{\n"
     f"    // {MARK}: the BN biases' gradient, as the GPU path computes it\n"
     "    backward_bias(l.bias_updates, l.delta, l.batch, l.out_c, l.out_w*l.out_h);\n"),
]


def apply_fixes(src: Path) -> list:
    """Apply every fix to the Darknet checkout ``src``; return what was done per file."""
    done = []
    for rel, old, new in FIXES:
        path = src / rel
        if not path.exists():
            raise SystemExit(f"{path}: not found; is {src} an AlexeyAB/darknet checkout?")
        text = path.read_text()
        if new in text:
            done.append(f"{rel}: already fixed")
            continue
        if text.count(old) != 1:
            raise SystemExit(f"{path}: the code to fix was not found exactly once; this Darknet "
                             "version differs from the one these fixes were written for")
        path.write_text(text.replace(old, new))
        done.append(f"{rel}: fixed")
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="AlexeyAB/darknet checkout (built afterwards with build-darknet)")
    for line in apply_fixes(Path(ap.parse_args().src)):
        print(line)


if __name__ == "__main__":
    main()
