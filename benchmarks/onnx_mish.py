"""ONNX Runtime time of one Mish over a feature map, for each way the export can write it.

``exp`` is :func:`yolov4.export.module.exp_mish` (Clip, Exp and arithmetic; our default),
``softplus`` is Softplus -> Tanh -> Mul (``--mish softplus``, what ``F.mish`` exports as), and
``Mish`` is the opset-18 operator. Each graph is exported from torch (the first two) or built
with ``onnx.helper`` (the third) and timed in the same run; the table gives the ratio to the
Softplus form and the largest difference from ``F.mish``.

    python benchmarks/onnx_mish.py [--shape 1 64 208 208] [--scale 1] [--threads 2] [--runs 20]

The input is standard normal times ``--scale`` (BatchNorm'd pre-activations are about unit
scale; ORT's Softplus costs more on a wider range).
"""
from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
import torch.nn.functional as F

from yolov4.export.module import exp_mish


def torch_graph(fn, shape) -> bytes:
    class M(torch.nn.Module):
        def forward(self, x):
            return fn(x)

    buf = io.BytesIO()
    torch.onnx.export(M(), (torch.zeros(shape),), buf, input_names=["x"], output_names=["y"],
                      opset_version=17, dynamo=False)
    return buf.getvalue()


def mish_op_graph(shape) -> bytes:
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))
    graph = helper.make_graph([helper.make_node("Mish", ["x"], ["y"])], "mish", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=4, default=[1, 64, 208, 208])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    shape = tuple(args.shape)
    x = (np.random.default_rng(0).standard_normal(shape) * args.scale).astype(np.float32)
    ref = F.mish(torch.from_numpy(x).double()).numpy()
    graphs = {"softplus": torch_graph(lambda t: t * torch.tanh(F.softplus(t)), shape),
              "exp": torch_graph(exp_mish, shape), "Mish (opset 18)": mish_op_graph(shape)}
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    # spinning threads of one session would steal the CPU from the next in the round-robin
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {k: ort.InferenceSession(g, so, providers=["CPUExecutionProvider"])
                for k, g in graphs.items()}
    times = {k: [] for k in sessions}
    for s in sessions.values():
        for _ in range(3):
            s.run(None, {"x": x})
    for _ in range(args.runs):  # round-robin, so load changes hit every form alike
        for k, s in sessions.items():
            t = time.perf_counter()
            s.run(None, {"x": x})
            times[k].append(time.perf_counter() - t)
    base = float(np.median(times["softplus"]))
    print(f"onnxruntime {ort.__version__}, shape {list(shape)}, input N(0, {args.scale:g}²), "
          f"{args.threads} threads, median of {args.runs} round-robin runs\n")
    print("| form | ms | x softplus form | max abs diff from F.mish |")
    print("|---|---|---|---|")
    for k, s in sessions.items():
        med = float(np.median(times[k]))
        err = float(np.abs(s.run(None, {"x": x})[0] - ref).max())
        print(f"| {k} | {med * 1000:.2f} | {med / base:.2f} | {err:.1e} |")


if __name__ == "__main__":
    main()
