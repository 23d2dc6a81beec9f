"""Backends: how each runtime turns the reference ONNX into its artifact, and which runner runs it.

A backend is looked up by the ``backend`` name in a target profile. Adding a runtime (TFLite,
TensorRT) is adding a module and a line in ``BACKENDS``; the build and verify stages do not change.
"""

from __future__ import annotations

import importlib

from edgeconv.backends.backend import Backend, BuildContext, BuiltArtifact

BACKENDS: dict[str, str] = {
    "openvino": "edgeconv.backends.openvino.backend:OpenVINOBackend",
    "openvino_genai": "edgeconv.backends.openvino_genai.backend:OpenVINOGenaiBackend",
    "onnxruntime": "edgeconv.backends.onnxruntime.backend:OnnxRuntimeBackend",
    "onnxruntime_genai": "edgeconv.backends.onnxruntime_genai.backend:GenaiBackend",
    "tensorrt": "edgeconv.backends.tensorrt.backend:TensorRTBackend",
    "tensorrt_edgellm": "edgeconv.backends.tensorrt_edgellm.backend:EdgeLLMBackend",
    "tflite": "edgeconv.backends.tflite.backend:TFLiteBackend",
}


def get_backend(name: str) -> Backend:
    from edgeconv.errors import SpecError

    if name not in BACKENDS:
        raise SpecError(f"unknown backend '{name}'", fix=f"use one of {', '.join(sorted(BACKENDS))}")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["BACKENDS", "Backend", "BuildContext", "BuiltArtifact", "get_backend"]
