"""Export to deployable formats: ONNX (``onnx.py``), OpenVINO IR (``openvino.py``), TorchScript
(``torchscript.py``) and Darknet ``.cfg`` + ``.weights`` (``darknet.py``); the traced module is
``module.py``."""
