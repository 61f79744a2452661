"""In-place ``[route]`` concatenation: convolutions write straight into the route that reads them.

Inference only, for channels-last networks whose convolutions feeding a route are
:class:`~yolov4.runtime.winograd.WinogradConv2d` (they can write into a channel slice of the
concatenation's ``Tensor[B, C, H, W]``); the ``Darknet`` forward pass follows the plan
(``net.route_targets``) in eval mode and ignores it in training.
"""
from __future__ import annotations

from torch import nn

from .winograd import WinogradConv2d


def plan_inplace_routes(net: nn.Module) -> int:
    """Let convolutions write their output straight into the ``[route]`` concatenation that
    reads it (inference only; sets ``net.route_targets``, which the forward pass follows in
    eval mode). Eligible: a ``ConvBNAct`` whose BatchNorm and activation are folded into a
    :class:`~yolov4.runtime.winograd.WinogradConv2d` (which writes into a channel slice), read
    by an ungrouped route of several layers — the first such route when several read it. The
    route copies only its other parts, instead of concatenating all of them. Returns how many
    convolutions write in place."""
    specs = getattr(net, "specs", None)
    if specs is None:
        return 0
    targets = {}
    for sp in specs:
        layer = net.layers[sp.index]
        if sp.type != "route" or len(sp.sources) < 2 or getattr(layer, "groups", 1) != 1:
            continue
        offset = 0
        for j in sp.sources:
            src = net.layers[j]
            if (j not in targets and isinstance(getattr(src, "conv", None), WinogradConv2d)
                    and isinstance(getattr(src, "bn", None), nn.Identity)
                    and isinstance(getattr(src, "act", None), nn.Identity)):
                targets[j] = (sp.index, offset, sp.out_shape[0])
            offset += specs[j].out_shape[0]
    net.route_targets = targets
    return len(targets)
