"""Training options shared by ``yolov4 evolve`` and ``yolov4 ablate`` (the trial's base run)."""
from __future__ import annotations

import argparse
from typing import Any, Dict, Tuple


def add_train_options(p: argparse.ArgumentParser) -> None:
    """``--data --model --weights ... key=value``: what every trial starts from."""
    p.add_argument("--data", help="dataset: data.yaml, .data, COCO json/dir or VOC dir")
    p.add_argument("--model", help="model-zoo name or a .cfg path (default yolov4-tiny)")
    p.add_argument("--weights", help="starting weights of every trial")
    p.add_argument("--partial", type=int, metavar="N", help="load only layers 0..N-1 of --weights")
    p.add_argument("--iterations", type=int, metavar="K", help="updates per trial (max_batches)")
    p.add_argument("--epochs", type=int, help="passes over the training split per trial")
    p.add_argument("--batch", type=int, help="images per update")
    p.add_argument("--subdivisions", type=int, help="mini-batches per update")
    p.add_argument("--size", type=int, help="network input width = height")
    p.add_argument("--width-multiple", type=float, help="zoo models: channel multiplier")
    p.add_argument("--depth-multiple", type=float, help="zoo models: block-count multiplier")
    p.add_argument("--hyp", metavar="FILE.yaml", help="hyperparameter file for every trial")
    p.add_argument("--fitness", metavar="M=W,...",
                   help="fitness weights over metrics (default AP50=0.1,AP=0.9)")
    p.add_argument("--devices", metavar="0,1,...",
                   help="one parallel trial per device (GPU ids); default: sequential")
    ray = p.add_argument_group("Ray Tune (pip install yolov4[tune]; docs/TUNING.md)")
    ray.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                     help="run the trials on Ray Tune: a local instance (or $RAY_ADDRESS), or "
                          "the cluster at ADDRESS (auto, HOST:6379); --out must be shared")
    ray.add_argument("--ray-cpus", type=float, default=1, metavar="N",
                     help="CPUs per trial (default 1)")
    ray.add_argument("--ray-gpus", type=float, default=0, metavar="N",
                     help="GPUs per trial (default 0)")
    ray.add_argument("--ray-parallel", type=int, metavar="N",
                     help="trials proposed per batch (default: as many as the cluster holds)")
    p.add_argument("--resume", metavar="DIR", help="continue the search recorded in DIR")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="hyperparameters of every trial by Darknet key (see hyp.yaml)")


def train_kwargs(args: argparse.Namespace) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(keyword arguments, overrides)`` for ``yolov4.evolve``/``yolov4.ablate``."""
    from ..engine.config import parse_overrides
    if args.ray and "=" in args.ray:         # `--ray key=value ...`: the option took an override
        args.overrides = [args.ray, *args.overrides]
        args.ray = ""
    overrides = parse_overrides(args.overrides)
    for key in ("epochs", "batch", "subdivisions", "size"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    model_kwargs = {}
    if args.width_multiple is not None:
        model_kwargs["width_multiple"] = args.width_multiple
    if args.depth_multiple is not None:
        model_kwargs["depth_multiple"] = args.depth_multiple
    kwargs = {"data": args.data, "model": args.model, "weights": args.weights,
              "partial": args.partial, "hyp": args.hyp, "iterations": args.iterations,
              "fitness": args.fitness, "devices": args.devices, "resume": args.resume,
              "ray": args.ray, "ray_cpus": args.ray_cpus, "ray_gpus": args.ray_gpus,
              "ray_parallel": args.ray_parallel,
              "model_kwargs": model_kwargs or None}
    return kwargs, overrides
