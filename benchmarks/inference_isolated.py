"""Inference latency per engine, each in its own process with its own default settings.

``benchmarks/inference.py`` runs every engine in one process, round-robin, with libgomp's
idle threads spinning only briefly (``GOMP_SPINCOUNT=10000``) so that no engine's idle
threads steal the cores of the next. That is a fair setting for interleaving, but not quite
how a user runs one engine, with each library's own defaults in a process of its own.

Here every (model, engine) pair is measured in a fresh subprocess that builds only that engine
with the library defaults and the parent's environment minus ``OMP_WAIT_POLICY`` (unless
``--omp-wait-policy`` sets one for all), at ``--threads`` threads. Rounds of one subprocess per
engine run in a shuffled order, several times (``--rounds``), so drift of a shared machine
spreads over all engines. Reported per engine: the median of all its timed calls, and the
best of its per-process medians ("quiet"), each as a ratio to OpenCV's same statistic: on a
shared machine one process can run 30% slower than the next (OpenCV here: 33 or 44 ms), and
the two columns show how far the ratio depends on that.
Same cfg, weights and input (dog.jpg, resized by ``cv2.resize``) for every engine.

Engines: ``opencv`` (reference, ratio 1; Winograd on, its default), ``optimized``
(``optimize_for_inference`` defaults: packed kernels, autotuned Winograd, in-place routes),
``optimized-direct`` (the same without Winograd), ``onnxruntime`` (fp32, default session
options), ``openvino`` (fp32, when installed).

    python benchmarks/inference_isolated.py [--models yolov4-tiny,yolov4] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "darknet"
MODELS = {
    "yolov4-tiny": (SHARED / "weights" / "yolov4-tiny.cfg", SHARED / "weights" / "yolov4-tiny.weights"),
    "yolov4": (SHARED / "cfg" / "yolov4.cfg", None),
}
ENGINES = ["opencv", "optimized", "optimized-direct", "onnxruntime", "openvino"]


def build(engine: str, cfg: str, weights: str, size: int, threads: int, tmp: str):
    """A zero-argument callable running one forward pass of ``engine`` on dog.jpg."""
    import cv2
    import torch

    from yolov4.darknet.graph import Darknet
    from yolov4.preprocess import load_image, preprocess

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    x = preprocess(load_image(SHARED / "images" / "dog.jpg"), (size, size),
                   resize_kind="opencv")[0][None].contiguous()
    if engine == "opencv":
        net = cv2.dnn.readNetFromDarknet(cfg, weights)
        names, blob = net.getUnconnectedOutLayersNames(), x.numpy()

        def run():
            net.setInput(blob)
            return net.forward(names)
        return run
    net = Darknet.from_cfg(cfg)
    net.load_weights(weights)
    net.eval().fuse()
    if engine in ("optimized", "optimized-direct"):
        from yolov4.runtime.optimize import optimize_for_inference

        with torch.inference_mode():
            optimize_for_inference(net, x, winograd=None if engine == "optimized" else False)
        xc = x.contiguous(memory_format=torch.channels_last)

        def run():
            with torch.inference_mode():
                return net(xc)
        return run
    if engine == "onnxruntime":
        import onnxruntime as ort

        from yolov4.export.onnx import export_onnx

        path = export_onnx(net, os.path.join(tmp, "model.onnx"), (size, size))
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = {"images": x.numpy()}
        return lambda: sess.run(None, feed)
    if engine == "openvino":
        from yolov4.runtime.openvino import OpenVinoRunner

        runner = OpenVinoRunner(net, (size, size), threads=threads)
        return lambda: runner(x)
    raise SystemExit(f"unknown engine {engine}")


def worker(args) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run = build(args.worker, args.cfg, args.weights, args.size, args.threads, tmp)
        except Exception as err:  # an engine that is not installed: report, do not fail
            print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
            return 0
        for _ in range(args.warmup):
            run()
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
    print(json.dumps({"times": times}))
    return 0


def random_weights(cfg: str, path: str) -> str:
    """yolov4 has no official weights here: random ones with BatchNorm statistics from the
    shared photos (as in benchmarks/inference.py), saved so every engine runs the same net."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from inference import calibrate_bn  # noqa: E402 - the same helper as the in-process run

    from yolov4.darknet.graph import Darknet
    from yolov4.preprocess import load_image, preprocess

    torch.manual_seed(0)
    net = Darknet.from_cfg(cfg)
    photos = sorted((SHARED / "images").glob("*.jpg"))
    batch = torch.stack([preprocess(load_image(p), (416, 416), resize_kind="opencv")[0]
                         for p in photos])
    calibrate_bn(net, batch)
    net.save_weights(path)
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="yolov4-tiny")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20, help="timed calls per subprocess")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--size", type=int, default=416)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0))
                    if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    ap.add_argument("--omp-wait-policy", default=None,
                    help="set OMP_WAIT_POLICY for every engine (default: each engine's own)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if not SHARED.is_dir():
        print(f"{SHARED} is absent: the benchmark needs the shared cfgs, weights and photos")
        return 1
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if args.omp_wait_policy:
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy
    engines = args.engines.split(",")
    rng = np.random.default_rng(0)
    print(f"threads={args.threads} rounds={args.rounds} runs/process={args.runs} "
          f"warmup={args.warmup} OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', '(default)')}",
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            cfg, weights = MODELS[name]
            weights = str(weights) if weights else random_weights(
                str(cfg), os.path.join(tmp, f"{name}.weights"))
            times: Dict[str, List[float]] = {e: [] for e in engines}
            rounds: Dict[str, List[float]] = {e: [] for e in engines}
            errors: Dict[str, str] = {}
            for r in range(args.rounds):
                for engine in rng.permutation(engines):
                    cmd = [sys.executable, __file__, "--worker", str(engine), "--cfg", str(cfg),
                           "--weights", weights, "--size", str(args.size),
                           "--threads", str(args.threads), "--runs", str(args.runs),
                           "--warmup", str(args.warmup)]
                    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
                    result = json.loads(lines[-1]) if lines else {
                        "error": (out.stderr.strip().splitlines() or ["no output"])[-1]}
                    if "error" in result:
                        errors[engine] = result["error"]
                    else:
                        times[engine].extend(result["times"])
                        rounds[engine].append(float(np.median(result["times"])))
                    ms = np.median(result.get("times", [np.nan])) * 1000
                    print(f"  round {r + 1} {name} {engine}: {ms:.1f} ms", flush=True)
            ref = np.median(times["opencv"]) if times.get("opencv") else np.nan
            ref_best = min(rounds["opencv"]) if rounds.get("opencv") else np.nan
            for engine in engines:
                if times[engine]:
                    med, best = float(np.median(times[engine])), min(rounds[engine])
                    per_round = " / ".join(f"{t * 1000:.1f}" for t in rounds[engine])
                    rows.append((name, engine, med * 1000, med / ref, best * 1000,
                                 best / ref_best, per_round))
                else:
                    rows.append((name, engine, np.nan, np.nan, np.nan, np.nan,
                                 errors.get(engine, "")))
    print()
    print("| model | size | engine | ms / image (all calls) | x OpenCV | best process ms | "
          "x OpenCV's best | per-process medians |")
    print("|---|---|---|---|---|---|---|---|")
    for name, engine, ms, ratio, best, best_ratio, per_round in rows:
        print(f"| {name} | {args.size} | {engine} | {ms:.1f} | {ratio:.2f} | {best:.1f} | "
              f"{best_ratio:.2f} | {per_round} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
