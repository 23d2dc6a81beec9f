"""NVIDIA's documented route for decoder LMs on Jetson (TensorRT Edge-LLM): ModelOpt int4 AWQ on this machine
(``quantize.py``), the vendor's ONNX exporter (``export.py``), and the engine built on the board by its own
``llm_build`` (``device.py``); ``recipe.py`` says what each precision asks of them. docs/llm.md, "Jetson"."""
