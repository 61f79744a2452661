"""``yolov4 demo``: generate the built-in shapes dataset, train a small YOLOv4 on CPU, validate, draw.

Everything lands in ``runs/demo/`` (or ``out``): ``data/`` (the dataset), ``last.pt``,
``best.pt``, ``model.cfg`` + ``model.weights`` (Darknet files), ``results.csv``,
``plots/{losses,lr,map}.png`` and ``predictions/*.jpg`` (annotated held-out images).

The recipe (see :data:`RECIPE`) is YOLOv4-tiny at half width (CSP blocks, 2 heads), anchors
from k-means on the training boxes, 3300 training images of 4 shape classes drawn at 192 px,
several anchors per ground truth (``iou_thresh=0.213``, yolov4.cfg's value), Adam (Darknet
``adam=1``) with burn-in and one cosine cycle (``policy=sgdr``), no random zoom (``resize=1``),
an objectness prior (``obj_prior``) and faster BN statistics (``bn_momentum``) for a short run,
CIoU box loss, flips and HSV jitter, 6 epochs: about 4 minutes on 2 idle CPU cores.

What the choices are worth (held-out mAP@0.5, 1-thread runs, ``benchmarks/RESULTS.md``): at
128 px on 833 images, 30 epochs reach 0.55 without ``iou_thresh`` and 0.68 with it; drawing
the same scenes at 160 px gives 0.74 after 20 epochs and 3000 images instead of 833 give 0.68
after 1284 iterations (6 epochs); at 192 px with 3000 images 1284 iterations reach 0.91. The
full-width/depth-reduced YOLOv4 (``yolov4`` x0.25/x0.33) learns at a similar rate per epoch but
is 3x slower per image on CPU, so it does not fit the few-minute budget.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

#: The demo's dataset, model and hyperparameters (Darknet key names, see hyp.yaml).
RECIPE: Dict[str, Any] = {
    "data": dict(images=3600, classes=4, size=192, seed=0, val_fraction=1 / 12),
    "model": dict(name="yolov4-tiny", width_multiple=0.5, num_anchors=6),
    "train": dict(size=192, epochs=6, batch=16, subdivisions=1, adam=1, learning_rate=0.004,
                  burn_in=20, decay=0.0005, policy="sgdr", learning_rate_min=0.00002,
                  obj_prior=0.01, bn_momentum=0.05, mosaic=0, jitter=0.1, resize=1.0, flip=1,
                  hue=0.02, saturation=1.3, exposure=1.3, iou_thresh=0.213,
                  random=0, iou_loss="ciou", iou_normalizer=0.07, eval_interval=2,
                  conf_thresh=0.005, seed=0,
                  # measured with these; recipe=default would set power 1, obj_normalizer .3
                  # and a class prior, untried here
                  power=4, obj_normalizer=1.0, cls_prior=0),
}
#: ``--quick``: a seconds-long smoke run of the same pipeline (for tests).
QUICK: Dict[str, Any] = {
    "data": dict(images=20, classes=2, size=64, seed=0, val_fraction=0.2),
    "model": dict(name="yolov4", width_multiple=0.125, depth_multiple=0.33),
    "train": dict(size=64, epochs=2, batch=8, subdivisions=2, learning_rate=0.005, burn_in=2,
                  bn_momentum=0.1, mosaic=0, random=0, iou_loss="ciou", iou_normalizer=0.07,
                  eval_interval=1, seed=0),
}


def _anchors(train_set: Any, size: int, n: int = 9) -> List[float]:
    from ..data.anchors import box_sizes, kmeans_anchors
    anchors, _ = kmeans_anchors(box_sizes(train_set, size, size), n, seed=0)
    return [float(round(v, 1)) for v in np.asarray(anchors).reshape(-1)]


def _draw_predictions(result: Any, val_set: Any, out: Path, count: int = 8) -> List[Path]:
    import cv2

    from ..draw import draw_detections
    from ..predict import Detector

    folder = out / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    det = Detector(str(result.cfg), str(result.weights), names=list(val_set.names), conf=0.3)
    paths = list(val_set.paths[:count])
    written = []
    for path, d in zip(paths, det.predict(paths)):
        image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        drawn = draw_detections(image, d.boxes.numpy(), d.scores.numpy(), d.class_ids.numpy(),
                                list(val_set.names))
        scale = max(1, 320 // max(image.shape[:2]))   # small images: enlarge for viewing
        if scale > 1:
            drawn = cv2.resize(drawn, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        target = folder / Path(path).name
        cv2.imwrite(str(target), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
        written.append(target)
    return written


def run_demo(out: Union[str, Path] = "runs/demo", *, quick: bool = False,
             recipe: Optional[Dict[str, Any]] = None, verbose: bool = True,
             log: Callable[[str], None] = print, **overrides: Any) -> Dict[str, Any]:
    """Run the demo; returns ``{"result": TrainResult, "predictions": [...], "seconds": float,
    "out": Path}``. ``overrides`` replace training hyperparameters of the recipe."""
    from ..data.formats import load_dataset
    from ..data.synth import generate
    from .api import train

    recipe = recipe or (QUICK if quick else RECIPE)
    out = Path(out)
    t0 = time.perf_counter()
    d = recipe["data"]
    data_yaml = out / "data" / "data.yaml"
    stamp = out / "data" / "recipe.txt"
    if not (data_yaml.exists() and stamp.exists() and stamp.read_text() == repr(d)):
        log(f"generating the synthetic shapes dataset ({d['images']} images, {d['classes']} "
            f"classes, {d['size']} px) in {out / 'data'}")
        generate(out / "data", **d)
        stamp.write_text(repr(d))
    train_set = load_dataset(data_yaml, "train")
    hyp = dict(recipe["train"], **overrides)
    size = int(hyp["size"])
    m = dict(recipe["model"])
    name = m.pop("name")
    m["anchors"] = _anchors(train_set, size, int(m.pop("num_anchors", 9)))
    log(f"model: {name} width x{m.get('width_multiple', 1)} depth x{m.get('depth_multiple', 1)} "
        f"at {size} px, "
        f"k-means anchors {m['anchors']}")
    result = train(data=str(data_yaml), model=name, out=out, model_kwargs=m, verbose=verbose,
                   log=log, **hyp)
    val_set = load_dataset(data_yaml, "val")
    names_file = out / "data" / "shapes.names"
    names_file.write_text("".join(n + "\n" for n in val_set.names))
    predictions = _draw_predictions(result, val_set, out)
    seconds = time.perf_counter() - t0
    mAP = result.metrics.get("darknet.mAP50", 0.0)
    log("")
    log(f"demo finished in {seconds / 60:.1f} min: mAP@0.5 {mAP:.3f}, "
        f"AP@[.5:.95] {result.metrics.get('coco.AP', 0.0):.3f} on {len(val_set)} held-out images")
    log(f"  annotated predictions: {out / 'predictions'}/")
    log(f"  plots:                 {out / 'plots'}/losses.png, lr.png, map.png")
    log(f"  Darknet model:         {result.cfg} + {result.weights}")
    log(f"  checkpoint:            {result.last} (continue: yolov4 train --resume {result.last})")
    log(f"  detect:                yolov4 detect --model {result.cfg} --weights {result.weights} "
        f"--names {names_file} IMAGE")
    return {"result": result, "predictions": predictions, "seconds": seconds, "out": out}
