"""Choosing where Winograd convolutions pay off on this machine, by timing.

:func:`winograd_autotune` swaps a 3x3 stride-1 convolution of a network for
:class:`~yolov4.runtime.winograd.WinogradConv2d` (tile size and product engine chosen per layer
shape) only where that is measured faster, and keeps the set of swaps under which the whole
network runs fastest. The direct convolution it competes with is the pre-packed oneDNN kernel
:func:`yolov4.runtime.packed.pack_convolutions` would run.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import winograd_native
from .packed import PackedConv2d, packing_available
from .winograd import WinogradConv2d, eligible


class _Layer(NamedTuple):
    """One eligible convolution while :func:`winograd_autotune` decides."""

    name: str
    parent: nn.Module  # the conv-BN-act block (or any module) holding the convolution
    attr: str
    conv: nn.Module  # the original convolution, put back where Winograd is not kept
    act: Optional[nn.Module]
    direct: nn.Module  # the packed direct kernel (activation fused) it is timed against
    winograd: Optional[WinogradConv2d]  # the fastest candidate, when it beats direct at all
    fused: bool  # the block's activation is fused into both
    kernel: str  # e.g. "F(4x4) onednn"
    t_wg: float
    t_direct: float

    @property
    def ratio(self) -> float:
        return self.t_wg / self.t_direct


#: Darknet activations fused into a Winograd convolution: name -> negative slope.
_SLOPES = {"leaky": 0.1, "relu": 0.0}


def _fusable_slope(parent: nn.Module, attr: str) -> Optional[float]:
    """The slope of the activation that follows ``parent.conv`` in a conv-BN-act block, when
    it can be fused (BatchNorm already folded), else None."""
    act = getattr(parent, "act", None)
    if attr != "conv" or not isinstance(getattr(parent, "bn", nn.Identity()), nn.Identity) \
            or type(act).__name__ != "Activation":
        return None
    return _SLOPES.get(act.name)


@torch.no_grad()
def winograd_autotune(module: nn.Module, example: Tensor, runs: int = 5,
                      min_channels: int = 32, margins: Sequence[float] = (0.7, 0.8, 0.9, 1.0),
                      report: Optional[list] = None, cold: bool = True) -> int:
    """Replace an eligible conv only where Winograd is measured faster on this machine.

    Runs ``module(example)`` once to record each eligible conv's input; for each, times the
    direct convolution (pre-packed by oneDNN, as
    :func:`yolov4.runtime.packed.pack_convolutions` would run it) against every Winograd
    candidate (:func:`_candidates`: F(6x6) / F(4x4) / F(2x2), products by ``torch.bmm`` or
    oneDNN, in the native path; F(4x4) / F(2x2) in the torch fallback), alternately, median
    of ``runs``, both with the block's leaky/relu fused, and notes the fastest candidate's
    time as a ratio of the direct time. Each ``margin`` proposes the set of layers whose ratio
    is below it; the whole network is then timed with
    each distinct set and with none (round-robin, median of ``runs``), and the fastest is
    kept: per-layer wins do not always add up (caches, layouts), and a margin that suits one
    machine does not suit the next. A margin above 1 forces its set (tests). A fused
    activation becomes ``nn.Identity``.

    Args:
        cold: evict the caches (write twice the last-level cache) and read the layer's input
            before each per-layer call, as inside the network, where a layer's weights and
            work buffers come from memory: Winograd's larger weights and buffers lose
            0.1-0.9 ms per layer there that a hot loop hides (measured on yolov4-tiny's
            104x104 x 32 layers: 0.51 vs 0.92 ms direct when hot, 0.96 vs 1.04 ms cold).
        report: a list that gets one ``(name, direct_ms, winograd_ms, kernel, swapped)`` per
            eligible conv and a last ``("network", none_ms, best_ms, "margin m", swapped)``.
    Returns:
        How many convolutions were swapped.
    """
    inputs = _record_inputs(module, example, min_channels)
    flush = torch.empty(_cache_bytes() // 4) if cold and example.device.type == "cpu" else None
    layers = _time_layers(module, inputs, _timer(runs, flush), max(margins), cold)
    # per-layer wins do not always add up (caches, layouts), and a margin that suits one
    # machine does not suit the next: time the whole network with each margin's set
    sets = {}  # frozenset of swapped layers -> the first margin proposing it
    for margin in sorted(margins):
        chosen = frozenset(i for i, layer in enumerate(layers) if layer.ratio < margin)
        if chosen:
            sets.setdefault(chosen, margin)
    options = list(sets) if max(margins) > 1.0 else [frozenset()] + list(sets)  # > 1: forced
    if not options:
        return 0
    t_net = _timer(runs, None)([_network_with(module, layers, c) for c in options], example)
    best = options[min(range(len(options)), key=t_net.__getitem__)]
    for i, layer in enumerate(layers):
        swapped = i in best
        setattr(layer.parent, layer.attr, layer.winograd if swapped else layer.conv)
        if layer.fused:
            layer.parent.act = nn.Identity() if swapped else layer.act
        if report is not None:
            report.append((layer.name, layer.t_direct * 1e3, layer.t_wg * 1e3, layer.kernel,
                           swapped))
    if report is not None:
        t_none = t_net[0] if not options[0] else float("nan")
        report.append(("network", t_none * 1e3, min(t_net) * 1e3,
                       f"margin {sets[best]:g}" if best else "", bool(best)))
    return len(best)


def _record_inputs(module: nn.Module, example: Tensor, min_channels: int) -> dict:
    """``{name: input Tensor}`` of every eligible conv, from one ``module(example)``."""
    inputs = {}
    hooks = []
    for name, m in module.named_modules():
        if eligible(m, min_channels):
            hooks.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: inputs.__setitem__(name, inp[0])))
    try:
        module(example)
    finally:
        for h in hooks:
            h.remove()
    return inputs


def _timer(runs: int, flush: Optional[Tensor]):
    """``timed(fns, x, evict=False)``: median seconds of each function on ``x``, called
    round-robin ``runs`` times; ``evict`` writes ``flush`` (evicting the caches) and reads ``x``
    before each call, as inside the network."""
    import time

    def timed(fns, x, evict=False):
        for f in fns:
            f(x)
        ts = [[] for _ in fns]
        for _ in range(runs):
            for f, t_f in zip(fns, ts):
                if evict and flush is not None:  # as inside the network: this layer's
                    flush.fill_(1.0)  # weights and buffers come from memory, its input
                    x.sum()  # from cache (the previous layer just wrote it)
                t = time.perf_counter()
                f(x)
                t_f.append(time.perf_counter() - t)
        return [sorted(t_f)[runs // 2] for t_f in ts]
    return timed


def _time_layers(module: nn.Module, inputs: dict, timed, top: float, cold: bool) -> list:
    """One :class:`_Layer` per eligible conv: its direct time and its fastest Winograd
    candidate's (built only when below ``top`` x direct); repeated shapes are timed once."""
    layers = []
    decided = {}  # layer shape -> (tile, gemm, t_wg, t_direct)
    for name, x in inputs.items():
        parent_name, _, attr = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        conv = getattr(parent, attr)
        slope = _fusable_slope(parent, attr)
        direct = _packed(conv, x, slope)
        key = (conv.in_channels, conv.out_channels, tuple(x.shape), x.stride(), slope is None)
        if key not in decided:
            best, t_direct = None, float("inf")
            for tile, gemm in _candidates(x):
                cand = WinogradConv2d(conv, slope, tile, gemm, x.shape).to(conv.weight.device)
                t_cand, t_dir = timed([cand, direct], x, cold)
                t_direct = min(t_direct, t_dir)
                if best is None or t_cand < best[2]:
                    best = (tile, gemm, t_cand)
            decided[key] = best + (t_direct,)
        tile, gemm, t_wg, t_direct = decided[key]
        wg = None  # only candidates pay the weight transform
        if t_wg < top * t_direct:
            wg = WinogradConv2d(conv, slope, tile, gemm, x.shape).to(conv.weight.device)
        layers.append(_Layer(name, parent, attr, conv, getattr(parent, "act", None), direct, wg,
                             slope is not None, f"F({tile}x{tile}) {gemm}", t_wg, t_direct))
    return layers


def _network_with(module: nn.Module, layers: list, chosen: frozenset):
    """A callable running ``module`` with the layers in ``chosen`` swapped to Winograd."""
    def run(x):
        for i, layer in enumerate(layers):
            setattr(layer.parent, layer.attr, layer.winograd if i in chosen else layer.direct)
            if layer.fused:
                layer.parent.act = nn.Identity()
        module(x)
    return run


def _cache_bytes() -> int:
    """Twice the last-level cache (Linux sysfs; 32 MiB assumed elsewhere), at least 64 MiB:
    writing that much evicts a layer's weights and buffers before it is timed."""
    size = 32 << 20
    try:
        from pathlib import Path

        for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
            text = (index / "size").read_text().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            size = max(size, int(text.rstrip("KMG")) * scale)
    except (OSError, ValueError):
        pass
    return max(64 << 20, 2 * size)


def _candidates(x: Tensor):
    """The (tile, gemm) pairs :func:`winograd_autotune` times for input ``x``: F(6x6) /
    F(4x4) / F(2x2) with ``torch.bmm`` or oneDNN products in the native path, F(4x4) / F(2x2)
    with ``torch.bmm`` in the torch fallback."""
    if not winograd_native.supports(x):
        return [(4, "bmm"), (2, "bmm")]
    gemms = ("bmm", "onednn") if packing_available() else ("bmm",)
    return [(tile, gemm) for tile in (6, 4, 2) for gemm in gemms]


class _ConvAct(nn.Module):
    """A convolution followed by leaky ReLU: the unpacked direct reference when timing."""

    def __init__(self, conv: nn.Module, slope: float) -> None:
        super().__init__()
        self.conv, self.slope = conv, slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(self.conv(x), self.slope)


def _packed(conv: nn.Conv2d, x: Tensor, slope: Optional[float] = None) -> nn.Module:
    """The direct convolution Winograd competes with: the pre-packed oneDNN kernel that
    :func:`yolov4.runtime.packed.pack_convolutions` would use (fp32 CPU; ``slope``: leaky
    ReLU fused as it would be), else ``conv`` itself (followed by the activation)."""
    if packing_available() and x.device.type == "cpu" and x.dtype == torch.float32 \
            and conv.padding_mode == "zeros":
        if slope is None:
            return PackedConv2d(conv, x.shape)
        if slope == 0:
            return PackedConv2d(conv, x.shape, "relu", [])
        return PackedConv2d(conv, x.shape, "leaky_relu", [slope])
    return conv if slope is None else _ConvAct(conv, slope)
