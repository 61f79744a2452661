"""Starting points of training: from scratch, from a partial Darknet file, or whole with a new class count.

``init_from_weights(net, path)`` loads a Darknet ``.weights`` (or a yolov4 ``.pt`` checkpoint)
into a freshly built network and returns a :class:`StartingPoint`: human-readable lines saying
what was loaded, and which layers with weights start from scratch (the default recipe gives the
fresh ``[yolo]`` convs bias priors and can hold the loaded layers still for a while):

- **whole, same classes**: every layer;
- **partial** (``upto=N`` given, or a file that ends exactly on a layer boundary such as
  ``yolov4.conv.137``): layers ``[0, N)``, like ``darknet partial``; the rest keep their fresh
  initialisation;
- **whole, another class count**: the file's class count is solved from its size (the head
  convs feeding ``[yolo]`` are the only layers whose size depends on it); every other layer is
  loaded and the head convs are re-initialised, naming them.

Darknet resumes at ``seen / batch`` when fine-tuning without ``-clear``; here training always
starts at iteration 0 (``seen`` is reset), like ``-clear``.
``save_partial(net, path, upto)`` writes layers ``[0, upto)`` with ``seen = 0``
(``darknet partial cfg weights out upto``) and, beside it, ``<path>.cfg``: the ``[net]`` and the
first ``upto`` sections (a Darknet cfg of the cut network, which Darknet and OpenCV load with the
file). When that cfg is there, :func:`init_from_weights` checks the file's layers against the
model's **layer by layer** (type, channels in and out, kernel, stride, groups, batch norm,
activation, route/shortcut sources) and names the first difference: a backbone cut from a
classifier built with other multipliers or activations is refused with the reason, not loaded
into the wrong layers. Without it only the float count is checked; a count that does not end on
a layer boundary is explained (where it ends).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import torch

from ..darknet.weights import layer_tensors, read_header
from ..errors import WeightsError

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class StartingPoint:
    """What :func:`init_from_weights` did: ``lines`` to print, and ``fresh``: the indices of the
    layers with weights that were *not* loaded (they keep their fresh initialisation)."""

    lines: List[str]
    fresh: List[int] = field(default_factory=list)


def _with_weights(net) -> List[int]:
    return [i for i in range(len(net.layers)) if layer_tensors(net, i)]


def _head_convs(net) -> Dict[int, int]:
    """``{conv layer index: number of mask anchors}`` for the convs feeding a ``[yolo]``."""
    heads: Dict[int, int] = {}
    for j in net.yolo_indices:
        heads[j - 1] = len(net.layers[j].settings.mask)
    return heads


#: Keys of a layer section that decide what its weights mean.
_SIGNATURE_KEYS = ("filters", "size", "stride", "stride_x", "stride_y", "groups",
                   "batch_normalize", "activation", "dilation", "weights_type", "group_id")


def layer_signature(spec) -> tuple:
    """What must agree for layer weights to mean the same: type, channels in/out, sources and
    the weight-shaping keys (``batch_normalize=2`` counts as 1: CmBN has BN's tensors)."""
    opts = spec.section.options
    keys = tuple((k, "1" if k == "batch_normalize" and opts[k].strip() == "2" else opts[k].strip())
                 for k in _SIGNATURE_KEYS if k in opts)
    return (spec.type, spec.in_shape[0], spec.out_shape[0], tuple(spec.sources)) + keys


def partial_cfg_path(path: PathLike) -> Path:
    """The cfg ``save_partial`` writes beside a partial weights file: ``<path>.cfg``."""
    return Path(str(path) + ".cfg")


def check_prefix(net, path: Path) -> Optional[int]:
    """Compare the layers described by ``<path>.cfg`` with ``net``'s first layers; return their
    count (None when there is no such cfg). Raises :class:`WeightsError` on the first layer that
    differs."""
    side = partial_cfg_path(path)
    if not side.is_file():
        return None
    from ..darknet.cfg import read_cfg
    from ..darknet.shapes import infer_layers
    specs = infer_layers(read_cfg(side))
    n = len(specs)
    if n > len(net.specs):
        raise WeightsError(f"{path}: its cfg {side} has {n} layers, the model only "
                           f"{len(net.specs)}: it was cut from a larger network")
    for i, (a, b) in enumerate(zip(specs, net.specs)):
        sa, sb = layer_signature(a), layer_signature(b)
        if sa != sb:
            diff = _describe_difference(sa, sb)
            raise WeightsError(
                f"{path}: layer {i} of the file ({side}:{a.section.line}, [{a.type}]) does not "
                f"match layer {i} of the model ([{b.type}]): {diff}. The file's {n} layers must "
                f"be the model's first {n}; cut it from a classifier built with the detector's "
                f"options (width/depth multipliers, activation, csp, dropblock)")
    return n


def _describe_difference(a: tuple, b: tuple) -> str:
    names = ("type", "input channels", "output channels", "source layers")
    for k in range(4):
        if a[k] != b[k]:
            return f"{names[k]} {a[k]} in the file, {b[k]} in the model"
    da, db = dict(a[4:]), dict(b[4:])
    keys = [k for k in _SIGNATURE_KEYS if da.get(k) != db.get(k)]
    return ", ".join(f"{k}={da.get(k, '(unset)')} in the file, {db.get(k, '(unset)')} in the "
                     f"model" for k in keys)


def _where_it_ends(body: int, counts: List[int]) -> str:
    """Where ``body`` floats end among the layers (for a file that fits no boundary)."""
    cum = np.cumsum([0] + counts)
    k = int(np.searchsorted(cum, body, side="right")) - 1
    if k >= len(counts):
        return f"it holds {body - int(cum[-1]):,} floats more than the whole model"
    return (f"it ends inside layer {k} (layers 0-{k - 1} hold {int(cum[k]):,} floats, layer "
            f"{k} has {counts[k]:,} more)")


def init_from_weights(net, path: PathLike, *, upto: Optional[int] = None) -> StartingPoint:
    """Load ``path`` into ``net`` as a training starting point; return what was done."""
    path = Path(path)
    if path.suffix == ".pt":
        return _init_from_checkpoint(net, path)
    checked = check_prefix(net, path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(f"{path}: weights file not found") from None
    _, _, _, _, hsize = read_header(data, str(path))
    if (len(data) - hsize) % 4:
        raise WeightsError(f"{path}: {len(data)} bytes is not a header plus whole float32 values")
    body = (len(data) - hsize) // 4
    n_layers = len(net.layers)
    counts = [sum(t.numel() for t in layer_tensors(net, i)) for i in range(n_layers)]
    if upto is None and checked is not None and checked < n_layers:
        upto = checked
    if upto is not None:
        net.load_weights(path, upto=upto)
        net.seen = 0
        how = (f", checked layer by layer against {partial_cfg_path(path)}"
               if checked is not None else "")
        return StartingPoint(
            [f"loaded layers 0-{int(upto) - 1} of {n_layers} from {path} (partial{how}); "
             f"layers {int(upto)}-{n_layers - 1} start from scratch"],
            [i for i in _with_weights(net) if i >= int(upto)])
    total = sum(counts)
    if body == total:
        net.load_weights(path)
        net.seen = 0
        return StartingPoint([f"loaded all {n_layers} layers from {path}"])
    if body < total:
        cum = np.cumsum([0] + counts)
        hits = np.nonzero(cum == body)[0]
        if len(hits):
            n = int(hits[-1])
            # several layer counts can end at the same float (layers without weights): load the
            # layers with weights, report the first layer not loaded that has weights
            net.load_weights(path, upto=n)
            net.seen = 0
            first_missing = next((i for i in range(n, n_layers) if counts[i]), n_layers)
            return StartingPoint(
                [f"loaded layers 0-{n - 1} of {n_layers} from {path} (a partial file, like "
                 f"darknet partial); layers {first_missing}-{n_layers - 1} start from scratch"],
                [i for i in range(n, n_layers) if counts[i]])
    return _init_other_classes(net, path, data, hsize, body, counts)


def _init_other_classes(net, path: Path, data: bytes, hsize: int, body: int,
                        counts: List[int]) -> StartingPoint:
    heads = _head_convs(net)
    classes = net.yolo_layers[0].classes if net.yolo_layers else None
    if not heads or classes is None:
        raise WeightsError(f"{path}: {body:,} floats do not fit this network ({sum(counts):,}): "
                           f"{_where_it_ends(body, counts)}; and it has no [yolo] head to "
                           f"re-initialise")
    # per head conv: floats per filter; the file has nmask*(5+C') filters
    per_filter = {i: counts[i] / (heads[i] * (5 + classes)) for i in heads}
    base = sum(c for i, c in enumerate(counts) if i not in heads)
    fixed = sum(per_filter[i] * heads[i] * 5 for i in heads)
    slope = sum(per_filter[i] * heads[i] for i in heads)
    c_file = (body - base - fixed) / slope
    if c_file < 1 or abs(c_file - round(c_file)) > 1e-9:
        raise WeightsError(
            f"{path}: {body:,} floats fit neither this network ({sum(counts):,} floats), nor a "
            f"prefix of its layers ({_where_it_ends(body, counts)}), nor the same network with "
            f"another class count; wrong cfg? (a backbone must be cut from a classifier built "
            f"with the detector's width/depth multipliers)")
    c_file = int(round(c_file))
    floats = np.frombuffer(data, dtype="<f4", count=body, offset=hsize)
    offset = 0
    with torch.no_grad():
        for i in range(len(net.layers)):
            tensors = layer_tensors(net, i)
            if i in heads:
                offset += int(round(per_filter[i] * heads[i] * (5 + c_file)))
                continue
            for t in tensors:
                n = t.numel()
                t.copy_(torch.from_numpy(floats[offset:offset + n].copy()).view(t.shape))
                offset += n
    assert offset == body, (offset, body)
    net.seen = 0
    names = ", ".join(str(i) for i in sorted(heads))
    return StartingPoint(
        [f"loaded {path}: trained for {c_file} classes, the model has {classes}: head convs "
         f"(layers {names}, feeding [yolo]) were not loaded and start from scratch; all "
         f"other layers loaded"], sorted(heads))


def _init_from_checkpoint(net, path: Path) -> StartingPoint:
    from .checkpoint import load_checkpoint
    ckpt = load_checkpoint(path)
    state = ckpt["model"]
    own = net.state_dict()
    loaded, skipped = 0, []
    with torch.no_grad():
        for k, v in own.items():
            if k in state and tuple(state[k].shape) == tuple(v.shape):
                v.copy_(state[k])
                loaded += 1
            else:
                skipped.append(k)
    msg = f"loaded {loaded}/{len(own)} tensors from checkpoint {path}"
    layers = sorted({int(k.split(".")[1]) for k in skipped if k.startswith("layers.")})
    if skipped:
        msg += (f"; not loaded (shape differs or absent): layers "
                f"{', '.join(str(i) for i in layers)}"
                if layers else f"; not loaded: {', '.join(skipped[:5])}")
    return StartingPoint([msg], layers)


def save_partial(net, path: PathLike, upto: int, *, write_cfg: bool = True) -> Path:
    """Write layers ``[0, upto)`` with ``seen = 0`` (``darknet partial``) and, unless
    ``write_cfg=False``, their cfg as ``<path>.cfg``. Returns the weights path."""
    from ..darknet.cfg import write_cfg as write_sections
    seen = net.seen
    try:
        net.seen = 0
        net.save_weights(path, upto=upto)
    finally:
        net.seen = seen
    if write_cfg:
        write_sections(net.sections[:1 + int(upto)], partial_cfg_path(path))
    return Path(path)
