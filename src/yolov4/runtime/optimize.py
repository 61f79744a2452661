"""CPU inference optimisations of a fused ``Darknet``, applied by :func:`optimize_for_inference`.

All keep fp32 results within ~1e-5 relative of the plain network (checked in tests):

- **Mish** in its one-sigmoid form, compiled into one loop where ``torch.compile`` works
  (:mod:`yolov4.runtime.mish`);
- **channels-last** memory format for weights and activations (oneDNN's native layout);
- **pre-packed oneDNN convolutions** with Darknet's ``leaky``/``relu``/``logistic``/``swish``
  fused (:mod:`yolov4.runtime.packed`; bit-identical, 16-22% faster networks here);
- **Winograd F(6x6, 3x3) / F(4x4, 3x3) / F(2x2, 3x3)** for the 3x3 stride-1 convolutions
  that measure faster on this machine (:mod:`yolov4.runtime.winograd`, timed by
  :mod:`yolov4.runtime.winograd_tune`), with the activation fused; on by default when the
  compiled transforms (:mod:`yolov4.runtime.winograd_native`, built at install) are present;
  they run yolov4-tiny's 3x3 layers in 0.34-0.75x of the packed kernels' time with hot
  caches, 0.42-0.92x with cold ones (``benchmarks/winograd_layers.py``);
- convolutions that feed a ``[route]`` write straight into its concatenation
  (:mod:`yolov4.runtime.routes`);
- optionally **bfloat16** (:func:`to_bfloat16`; reduced precision, fp32 box decode).

:func:`optimize_for_inference` changes the network in place and returns the
:class:`~yolov4.runtime.runner.TorchRunner` that feeds it inputs in the layout and dtype it
now expects. Inference only: the fast Mish is not meant for training (it keeps more
intermediates), packed convolutions have no autograd and take CPU tensors only.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ..errors import YoloError
from . import winograd_native
from .mish import replace_mish
from .packed import pack_convolutions
from .routes import plan_inplace_routes
from .runner import TorchRunner
from .winograd_tune import winograd_autotune


@torch.no_grad()
def _float_input(module: nn.Module, args: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    return (args[0].float(),) + tuple(args[1:])


def to_bfloat16(net: nn.Module) -> nn.Module:
    """Cast a network to bfloat16 except its ``[yolo]`` heads, which get fp32 inputs (so the
    box decode keeps fp32 precision and outputs stay fp32). In place; returns ``net``, which
    then takes bfloat16 inputs ``Tensor[B, 3, H, W]`` (the :class:`TorchRunner` of
    :func:`optimize_for_inference` casts them)."""
    net.to(torch.bfloat16)
    for layer in getattr(net, "yolo_layers", []):
        layer.float()
        layer.register_forward_pre_hook(_float_input)
    return net


def optimize_for_inference(net: nn.Module, example: Optional[Tensor] = None, *,
                           channels_last: bool = True, fast_mish: bool = True,
                           pack: bool = True, winograd: Optional[bool] = None,
                           bf16: bool = False, compile_mish: bool = True) -> TorchRunner:
    """Apply the optimisations to ``net`` in place (it should be fused and in eval mode) and
    return the runner that calls it.

    Args:
        example: an input ``Tensor[1, 3, H, W]`` float32 of the deployment size, needed for
            packing and to time the Winograd candidates (both skipped without it).
        channels_last: convert weights (and, through the runner, inputs) to channels-last.
        fast_mish: swap Mish for :class:`~yolov4.runtime.mish.FastMish`.
        pack: pre-pack convolutions for oneDNN (:func:`~yolov4.runtime.packed.pack_convolutions`).
        winograd: time Winograd F(6x6)/F(4x4)/F(2x2) against the packed direct kernel for every
            3x3 stride-1 convolution and keep it where it is faster
            (:func:`yolov4.runtime.winograd_tune.winograd_autotune`; a few seconds once).
            None (default): on when the compiled kernels (:mod:`yolov4.runtime.winograd_native`)
            are built.
        bf16: run in bfloat16 (:func:`to_bfloat16`; reduced precision); Winograd is skipped then.
        compile_mish: run Mish as one loop compiled by ``torch.compile``
            (:func:`~yolov4.runtime.mish.compiled_mish`; a few seconds of compilation once per
            process, silently the eager form where no compiler is available).
    Returns:
        a :class:`~yolov4.runtime.runner.TorchRunner`: ``runner(x)`` with ``x`` a float32
        ``Tensor[B, 3, H, W]`` converts it to channels-last (when ``channels_last``) and
        bfloat16 (when ``bf16``) and returns the float32 decoded outputs. Calling ``net``
        directly still works (it is modified in place; feed it
        ``x.contiguous(memory_format=torch.channels_last)``, and ``x.to(torch.bfloat16)`` with
        ``bf16`` — other layouts still work, only slower). Until issue 13 this returned ``net``
        and set ``net.channels_last`` / ``net.input_dtype``; the runner now holds them.
    Raises:
        YoloError: ``bf16`` on a CPU whose oneDNN has no bfloat16 kernels.
    """
    net.eval()
    on_device = next(net.parameters(), torch.empty(0)).device
    if bf16 and on_device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        raise YoloError("bf16 inference on this CPU is not supported by PyTorch's oneDNN "
                        "kernels (they need AVX512-BF16, AVX-NE-CONVERT or AVX512BW/VL/DQ): run "
                        "fp32, or engine='openvino' with bf16")
    if fast_mish:
        on_cpu = example is None or example.device.type == "cpu"
        replace_mish(net, compiled=compile_mish and on_cpu)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    if bf16:
        to_bfloat16(net)
        winograd = False
        if example is not None:
            example = example.to(torch.bfloat16)
    if winograd is None:
        winograd = winograd_native.available()
    if winograd and example is not None:
        x = example.contiguous(memory_format=torch.channels_last) if channels_last else example
        with torch.inference_mode():
            winograd_autotune(net, x)
    if pack and example is not None:
        x = example.contiguous(memory_format=torch.channels_last) if channels_last else example
        pack_convolutions(net, x)
    if channels_last:
        plan_inplace_routes(net)
    return TorchRunner(net, channels_last=bool(channels_last),
                       input_dtype=torch.bfloat16 if bf16 else torch.float32, device=on_device)
