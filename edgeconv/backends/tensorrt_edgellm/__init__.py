"""NVIDIA's documented route for decoder LMs on Jetson (TensorRT Edge-LLM): ModelOpt int4 AWQ on this machine
(``quantize.py``), the vendor's ONNX exporter (``export.py``), and the engine built on the board by its own
``llm_build`` (``device.py``); ``recipe.py`` says what each precision asks of them. docs/llm.md, "Jetson"."""

import os

# ModelOpt imports torch.utils.cpp_extension, which imports setuptools; setuptools' distutils shim then asserts
# that no stdlib distutils was imported before it, and fails when another library of the same process (NNCF /
# OpenVINO's tools) already did. Python 3.11's own distutils serves setuptools as well here.
os.environ.setdefault("SETUPTOOLS_USE_DISTUTILS", "stdlib")
