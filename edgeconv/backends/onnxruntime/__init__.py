"""ONNX Runtime: the artifacts it builds from the reference ONNX (backend.py) and their runner (runner.py)."""
