"""Darknet ``.weights`` files: read into and write from a :class:`~yolov4.darknet.graph.Darknet`.

Format (``src/parser.c: save_weights_upto, load_weights_upto``; DARKNET_SEMANTICS §8):

- header: int32 major, minor, revision; then ``seen`` (images trained on) as **uint64 if
  major·10 + minor ≥ 2, else uint32** (20- or 16-byte header). We write 0, 2, 5.
- body, little-endian float32 in layer order: per ``[convolutional]`` biases[n]; if
  batch_normalize: scales[n], rolling_mean[n], rolling_variance[n]; then weights
  ``[n, c/groups, k, k]`` (OIHW). Per ``[shortcut]`` with ``weights_type``: its n+1 (per_feature)
  or (n+1)·C (per_channel, ``[input][channel]``) weights. Nothing for other layers.

Unlike Darknet (which silently stops at EOF) the size is checked: a file with too few floats, a
partial float or, when loading all layers, extra bytes raises :class:`WeightsError` naming the
file, expected and actual byte counts and the layer where it ran out. With ``upto=N`` (like
``darknet partial``) only layers ``[0, N)`` are read and trailing data is allowed.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple, Union

import numpy as np
import torch

from ..errors import WeightsError
from .layer_types import LAYER_TYPES

if TYPE_CHECKING:  # pragma: no cover
    from .graph import Darknet

PathLike = Union[str, "os.PathLike[str]"]
VERSION = (0, 2, 5)


def header_size(major: int, minor: int) -> int:
    """Header bytes: 12 + 8 (uint64 seen) if ``major·10 + minor ≥ 2``, else 12 + 4."""
    return 20 if major * 10 + minor >= 2 else 16


def read_header(data: bytes, source: str = "<weights>") -> Tuple[int, int, int, int, int]:
    """``(major, minor, revision, seen, header_bytes)`` from the start of a weights file."""
    if len(data) < 16:
        raise WeightsError(f"{source}: {len(data)} bytes is too short for a Darknet weights "
                           f"header (16 or 20 bytes)")
    major, minor, revision = struct.unpack_from("<iii", data, 0)
    size = header_size(major, minor)
    if len(data) < size:
        raise WeightsError(f"{source}: {len(data)} bytes is too short for the {size}-byte "
                           f"header of version {major}.{minor}.{revision}")
    seen = struct.unpack_from("<Q" if size == 20 else "<I", data, 12)[0]
    return major, minor, revision, seen, size


def layer_tensors(net: "Darknet", index: int) -> List[torch.Tensor]:
    """The tensors of layer ``index`` in ``.weights`` file order (empty if it stores nothing):
    the ``tensors`` of its entry in the layer-type table (:mod:`yolov4.darknet.layer_types`).

    Conv with BN: ``[bn.bias, bn.weight, bn.running_mean, bn.running_var, conv.weight]``;
    conv without BN: ``[conv.bias, conv.weight]``; weighted shortcut: ``[weight]``.
    """
    spec = net.specs[index]
    return LAYER_TYPES[spec.type].tensors(net.layers[index], spec)


def _describe(net: "Darknet", index: int) -> str:
    s = net.specs[index].section
    return f"layer {index} [{s.type}] ({s.source}:{s.line})"


def load_weights(net: "Darknet", path: PathLike, upto: Optional[int] = None) -> None:
    """Read ``path`` into ``net`` (layers ``[0, upto)``; all if None); sets ``net.seen``/``header``.

    Raises:
        WeightsError: missing/short file, too few floats (naming the layer where it ran out),
            a partial float, or extra bytes when loading every layer.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(f"{path}: weights file not found") from None
    except OSError as err:
        raise WeightsError(f"{path}: cannot read weights ({err.strerror})") from None
    major, minor, revision, seen, hsize = read_header(data, str(path))
    n_layers = len(net.layers) if upto is None else max(0, min(int(upto), len(net.layers)))
    counts = [sum(t.numel() for t in layer_tensors(net, i)) for i in range(n_layers)]
    expected = sum(counts)
    expected_bytes = hsize + 4 * expected
    body = len(data) - hsize
    if body < 4 * expected:
        have, ran_out = body // 4, n_layers - 1
        for i, c in enumerate(counts):
            if have < c:
                ran_out = i
                break
            have -= c
        raise WeightsError(
            f"{path}: too few bytes for this network: expected {expected_bytes:,} bytes "
            f"({hsize}-byte header + {expected:,} floats), got {len(data):,}; the data runs out "
            f"in {_describe(net, ran_out)}")
    if upto is None and body != 4 * expected:
        raise WeightsError(
            f"{path}: extra bytes for this network: expected {expected_bytes:,} bytes "
            f"({hsize}-byte header + {expected:,} floats), got {len(data):,} "
            f"({len(data) - expected_bytes:,} extra after the last layer); wrong cfg or classes?")
    floats = np.frombuffer(data, dtype="<f4", count=expected, offset=hsize)
    offset = 0
    with torch.no_grad():
        for i in range(n_layers):
            for tensor in layer_tensors(net, i):
                n = tensor.numel()
                chunk = torch.from_numpy(floats[offset:offset + n].copy()).view(tensor.shape)
                tensor.copy_(chunk)
                offset += n
    net.seen = int(seen)
    net.header = (major, minor, revision)


def save_weights(net: "Darknet", path: PathLike, upto: Optional[int] = None) -> None:
    """Write ``net`` (layers ``[0, upto)``; all if None) as a Darknet 0.2.5 weights file."""
    n_layers = len(net.layers) if upto is None else max(0, min(int(upto), len(net.layers)))
    parts = [struct.pack("<iiiQ", *VERSION, int(net.seen))]
    for i in range(n_layers):
        for tensor in layer_tensors(net, i):
            parts.append(tensor.detach().to("cpu", torch.float32).contiguous().numpy()
                         .astype("<f4", copy=False).tobytes())
    Path(path).write_bytes(b"".join(parts))
