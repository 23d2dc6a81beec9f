"""Conversions from the ONNX reference to runtime formats (TensorRT engines), and their pre-checks."""
