"""Inference acceleration: everything that makes a trained ``Darknet`` run faster, in one place.

- :mod:`.runner`: the runner contract (``Tensor[B, 3, H, W]`` float32 -> decoded float32
  ``Tensor[B, A, h, w, 5 + C]`` per [yolo] layer), :class:`~.runner.TorchRunner` and
  :func:`~.runner.make_runner` (the engine choice of ``Detector``);
- :mod:`.optimize`: :func:`~.optimize.optimize_for_inference` (all CPU speed-ups below,
  returns a ``TorchRunner``) and :func:`~.optimize.to_bfloat16`;
- :mod:`.mish`: Mish in one sigmoid, compiled by ``torch.compile`` where possible;
- :mod:`.packed`: pre-packed oneDNN convolutions with fused activations;
- :mod:`.winograd`, :mod:`.winograd_native` (ctypes binding of ``_winograd.c``, the optional
  C extension ``yolov4.runtime._winograd_native``), :mod:`.winograd_tune` (the autotune);
- :mod:`.routes`: convolutions writing straight into their ``[route]`` concatenation;
- :mod:`.openvino`: the OpenVINO runner (optional dependency), int8 calibration images.

It builds on ``ops``, ``layers`` and ``darknet``, which never import it. Importing this
package loads nothing: import the module you use.
"""
