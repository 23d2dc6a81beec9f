"""OpenVINO: ONNX -> IR (fp32, fp16 weights, NNCF int8), and the runner that executes an IR."""
