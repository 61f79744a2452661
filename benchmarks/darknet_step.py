"""One ``recipe=darknet`` update against Darknet's, layer by layer (the training oracle).

Darknet (a CPU build of AlexeyAB/darknet, fixed with ``benchmarks/darknet_cpu_fixes.py`` and
built with ``../shared/tools/build-darknet``) and ours make exactly one update from the same
weights on the same mini-batch: one image of the dataset, resized once to the network size and
written losslessly, 16 times (Darknet draws its batch from a list with replacement, so a list of
one image is the only batch both sides can share), with every random augmentation off
(``jitter=0 resize=1 hue=0 saturation=1 exposure=1 flip=0``), ``burn_in=0``, a constant lr.
Then, per parameter tensor, the norm of each side's change and the relative difference
``|Δours − Δdarknet| / |Δdarknet|``. Darknet's printed loss and ours (``darknet_loss``) are shown
too. Run it against an unfixed build to see the two CPU bugs (whole layers with no gradient).

    python benchmarks/darknet_step.py --darknet /path/to/darknet --data runs/digits \\
        [--cfg runs/darknet_reference/tiny-custom.cfg] [--weights START.weights] [--out DIR]
"""
from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path
from typing import Dict, Tuple

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
LOSS_LINE = re.compile(r"^\s*(\d+): ([-\w.]+), ([-\w.]+) avg loss")
AUG_OFF = [(r"(?m)^saturation\s*=.*$", "saturation = 1"), (r"(?m)^exposure\s*=.*$", "exposure = 1"),
           (r"(?m)^hue\s*=.*$", "hue=0"), (r"(?m)^jitter\s*=.*$", "jitter=0"),
           (r"(?m)^resize\s*=.*$", "resize=1")]


def parse_losses(log: Path) -> Tuple[Dict[int, float], Dict[int, float]]:
    """``({iteration: loss}, {iteration: avg loss})`` from a ``detector train`` log."""
    losses, avg = {}, {}
    for line in log.read_text(errors="replace").splitlines():
        m = LOSS_LINE.match(line)
        if m:
            losses[int(m.group(1))] = float(m.group(2))
            avg[int(m.group(1))] = float(m.group(3))
    return losses, avg


def step_rules(updates: int = 1, lr: float = 0.001, burn_in: int = 0) -> list:
    """cfg rules for ``updates`` updates at a constant ``lr`` after ``burn_in`` updates of
    Darknet's burn-in (``lr * (k / burn_in) ** power``)."""
    return [(r"(?m)^max_batches\s*=.*$", f"max_batches={updates}"),
            (r"(?m)^burn_in\s*=.*$", f"burn_in={burn_in}"),
            (r"(?m)^policy\s*=.*$", "policy=constant"),
            (r"(?m)^learning_rate\s*=.*$", f"learning_rate={lr}")]


def substitute(text: str, rules: list, source: Path) -> str:
    """Apply ``(pattern, replacement)`` rules to cfg text; each pattern must match."""
    for pattern, repl in rules:
        text, n = re.subn(pattern, repl, text)
        if not n:
            raise SystemExit(f"{source}: no line matches {pattern}")
    return text


def augmentation_off(text: str, source: Path) -> str:
    """A yolov4-tiny cfg text with every augmentation off (``jitter=0 resize=1 hue=0
    saturation=1 exposure=1 flip=0``); flip is set on its own, as a cfg may lack the line and
    Darknet's default is 1."""
    text = substitute(text, AUG_OFF, source)
    text, n = re.subn(r"(?m)^flip\s*=.*$", "flip=0", text)
    if not n:
        text = re.sub(r"(?m)^\[net\]\s*$", "[net]\nflip=0", text, count=1)
    return text


def one_image_set(out: Path, data: Path, size: int, copies: int = 16,
                  resize: bool = True) -> Path:
    """A dataset of one training image (resized to ``size`` unless not ``resize``, PNG)
    ``copies`` times, in both our layout (``data.yaml``) and Darknet's (``obj.data``); returns
    ``out``."""
    lists = (data / "darknet" / "train.txt").read_text().split()
    src = Path(lists[0])
    image = cv2.imread(str(src))
    if image is None:
        raise SystemExit(f"{src}: image does not decode")
    if resize:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    labels = src.with_suffix(".txt").read_text()
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        cv2.imwrite(str(out / "images" / "train" / f"x{i:02d}.png"), image)
        for folder in ("labels", "images"):  # ours reads labels/, Darknet the image's folder
            (out / folder / "train" / f"x{i:02d}.txt").write_text(labels)
    cv2.imwrite(str(out / "images" / "val" / "v.png"), image)
    (out / "labels" / "val" / "v.txt").write_text(labels)
    names = (data / "darknet" / "obj.names").read_text().split()
    (out / "data.yaml").write_text(f"path: {out}\ntrain: images/train\nval: images/val\n"
                                   f"nc: {len(names)}\nnames: {names}\n")
    (out / "one.txt").write_text(f"{out / 'images' / 'train' / 'x00.png'}\n")
    (out / "backup").mkdir(exist_ok=True)
    (out / "obj.data").write_text(
        f"classes = {len(names)}\ntrain = {out / 'one.txt'}\nvalid = {out / 'one.txt'}\n"
        f"names = {data / 'darknet' / 'obj.names'}\nbackup = {out / 'backup'}\n")
    return out


def step_cfg(cfg: Path, out: Path, updates: int = 1, lr: float = 0.001,
             burn_in: int = 0) -> Path:
    text = substitute(augmentation_off(cfg.read_text(), cfg), step_rules(updates, lr, burn_in),
                      cfg)
    path = out / "step.cfg"
    path.write_text(text)
    return path


def whole_start(cfg: Path, weights: Path, out: Path) -> Path:
    """``weights`` as a whole file for ``cfg``: a partial file is completed with our fresh
    (Darknet-style, seeded) initialisation of the other layers, so both sides start equal."""
    import torch
    from yolov4.darknet.cfg import read_cfg
    from yolov4.darknet.graph import Darknet
    from yolov4.engine.starting import init_from_weights
    torch.manual_seed(0)
    net = Darknet(read_cfg(cfg))
    point = init_from_weights(net, weights)
    if not point.fresh:
        return weights
    path = out / "start.weights"
    net.save_weights(path)
    return path


def as_weights(cfg: Path, source: Path, out: Path) -> Path:
    """``source`` (a whole ``.weights`` file or one of our ``.pt`` checkpoints) as a Darknet
    ``.weights`` file for ``cfg``; a partial source is refused (both sides must start equal)."""
    from yolov4.darknet.cfg import read_cfg
    from yolov4.darknet.graph import Darknet
    from yolov4.engine.starting import init_from_weights
    net = Darknet(read_cfg(cfg))
    if init_from_weights(net, source).fresh:
        raise SystemExit(f"{source}: not a whole model for {cfg}")
    if source.suffix == ".weights":
        return source
    path = out / f"{source.stem}.weights"
    net.save_weights(path)
    return path


def params(cfg: Path, weights: Path) -> Dict[str, np.ndarray]:
    from yolov4.darknet.cfg import read_cfg
    from yolov4.darknet.graph import Darknet
    from yolov4.engine.starting import init_from_weights
    net = Darknet(read_cfg(cfg))
    init_from_weights(net, weights)
    return {k: v.detach().numpy().copy() for k, v in net.named_parameters()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--darknet", required=True, help="a Darknet binary (fixed CPU build)")
    ap.add_argument("--data", default="runs/digits", help="benchmarks/digits_dataset.py output")
    ap.add_argument("--cfg", default="runs/darknet_reference/tiny-custom.cfg",
                    help="the training cfg (darknet_reference.py writes one)")
    ap.add_argument("--weights", default="runs/darknet_reference/yolov4-tiny.conv.29",
                    help="start weights (a partial file or whole weights)")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--out", default="runs/darknet_step")
    ap.add_argument("--keep-size", action="store_true",
                    help="write the image at its own size (lossless), so that each side resizes "
                         "it to the network as it does in training: tests the resize")
    ap.add_argument("--updates", type=int, default=1,
                    help="updates on the same batch (momentum, decay and the burn-in schedule "
                         "over several steps); the loss of each is printed")
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--burn-in", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    one_image_set(out, Path(args.data).resolve(), args.size, resize=not args.keep_size)
    cfg = step_cfg(Path(args.cfg).resolve(), out, args.updates, args.lr, args.burn_in)
    start = whole_start(cfg, Path(args.weights).resolve(), out)
    log = out / "darknet.log"
    with log.open("w") as f:
        subprocess.run([str(Path(args.darknet).resolve()), "detector", "train",
                        str(out / "obj.data"), str(cfg), str(start), "-dont_show", "-clear"],
                       cwd=out, stdout=f, stderr=subprocess.STDOUT, check=False)
    dk_weights = out / "backup" / f"{cfg.stem}_final.weights"
    if not dk_weights.exists():
        raise SystemExit(f"Darknet wrote no {dk_weights}; see {log}")
    dk_losses = parse_losses(log)[0]
    from yolov4.engine.api import train
    res = train(data=str(out / "data.yaml"), model=str(cfg), weights=str(start), out=out / "ours",
                recipe="darknet", max_batches=args.updates, batch=16, size=args.size, seed=0,
                eval_interval=0, verbose=False, log=lambda s: None)
    p0, pa, pb = params(cfg, start), params(cfg, out / "ours" / "model.weights"), \
        params(cfg, dk_weights)
    print(f"\n{args.updates} update(s) from {start.name}, lr {args.lr}, burn_in {args.burn_in}, "
          f"batch 16 x one image at {args.size}; Darknet {args.darknet}\n")
    print("| update | loss (Darknet's print): Darknet | ours |\n|---|---|---|")
    for row in res.losses:
        k = int(row["iteration"])
        print(f"| {k} | {dk_losses.get(k, float('nan')):.6g} | {float(row['darknet_loss']):.6g} |")
    print()
    print("| parameter | |Δ ours| | |Δ Darknet| | relative difference |")
    print("|---|---|---|---|")
    worst = 0.0
    for k in p0:
        da, db = pa[k] - p0[k], pb[k] - p0[k]
        na, nb = float(np.linalg.norm(da)), float(np.linalg.norm(db))
        if na == 0 and nb == 0:
            rel = 0.0
        else:
            rel = float(np.linalg.norm(da - db)) / max(nb, 1e-30)
        worst = max(worst, rel)
        print(f"| {k} | {na:.4g} | {nb:.4g} | {rel:.2g} |")
    print(f"\nlargest relative difference {worst:.3g} over {len(p0)} tensors (the change over "
          f"all {args.updates} update(s))")


if __name__ == "__main__":
    main()
