"""ONNX Runtime GenAI: decoder LMs built by onnxruntime-genai's model builder and run by its generator."""

# how report.json names this runtime's runner (serve and bundle run only its artifacts)
RUNNER = "edgeconv.backends.onnxruntime_genai.runner:GenaiRunner"
