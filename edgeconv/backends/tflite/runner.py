"""TFLite (LiteRT) runner: the interpreter from ai-edge-litert, or tflite-runtime where only that exists.

Imports only numpy and the interpreter (plus the runner base), so it runs as is on a Raspberry Pi or
Jetson that has ``pip install tflite-runtime`` (numpy < 2) or ``ai-edge-litert``. The XNNPACK
delegate, applied by default, takes the profile's thread count through ``num_threads``.

The artifacts are batch-1, static-shape flatbuffers whose signature names the inputs ``args_0..N``
in the model's argument order (litert-torch's naming); ``input_names`` maps the model's names onto
them. Token ids arrive as int64 and are cast to the int32 the flatbuffer takes; float inputs of an
int8/uint8 model are quantized with the tensor's own scale and zero point, and integer outputs are
dequantized, so every runtime is compared on float logits.
"""

from __future__ import annotations

from importlib.metadata import version as dist_version
from typing import Any

import numpy as np

from edgeconv.backends.runner import Runner


def load_interpreter_class() -> tuple[Any, str, str]:
    """(Interpreter class, distribution name, version): ai-edge-litert first, then tflite-runtime."""
    try:
        from ai_edge_litert import interpreter as litert

        return litert.Interpreter, "ai-edge-litert", dist_version("ai-edge-litert")
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as tflrt  # type: ignore[import-not-found]

        return tflrt.Interpreter, "tflite-runtime", getattr(tflrt, "__version__", "unknown")
    except ImportError as exc:
        raise RuntimeError(
            "no TFLite interpreter here: pip install ai-edge-litert (or tflite-runtime on 32-bit Arm / numpy<2)"
        ) from exc


class TFLiteRunner(Runner):
    name = "tflite"

    def __init__(self, path: str, threads: int | None = None, input_names: list[str] | None = None,
                 signature: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.threads = threads
        self.input_names = input_names  # the model's names in argument order; None: the feeds' order
        self.signature = signature
        self.interpreter: Any = None
        self.runtime = ("", "")

    def activate(self) -> None:
        cls, dist, version = load_interpreter_class()
        self.runtime = (dist, version)
        self.interpreter = cls(model_path=self.path, num_threads=self.threads)
        signatures = self.interpreter.get_signature_list()
        if not signatures:
            raise RuntimeError(f"{self.path} has no signature: convert it with litert-torch (edgeconv does)")
        key = self.signature or next(iter(signatures))
        self.runner = self.interpreter.get_signature_runner(key)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()

    def deactivate(self) -> None:
        self.runner = None
        self.interpreter = None

    def _signature_names(self, feed_names: list[str]) -> dict[str, str]:
        """Model input name -> signature input name."""
        if set(feed_names) <= set(self.inputs):
            return {n: n for n in feed_names}
        ordered = sorted(self.inputs, key=_arg_index)
        names = self.input_names or feed_names
        if len(names) != len(ordered):
            raise RuntimeError(f"the model takes {len(ordered)} inputs ({', '.join(ordered)}), got {len(names)}")
        return dict(zip(names, ordered, strict=True))

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        mapping = self._signature_names(list(feeds))
        # The flatbuffer is batch 1 (static shapes); a larger batch runs row by row. A feed already at the
        # signature's shape (batch 1, or an input without a batch axis: a recurrent state, a scalar) goes whole.
        whole = {k for k, v in feeds.items() if tuple(v.shape) == tuple(self.inputs[mapping[k]]["shape"])}
        batch = max((len(v) for k, v in feeds.items() if k not in whole), default=1)
        rows = []
        for i in range(batch):
            args = {mapping[k]: _to_input(v if k in whole else v[i : i + 1], self.inputs[mapping[k]])
                    for k, v in feeds.items()}
            rows.append(self.runner(**args))
        return {
            name: np.concatenate([_from_output(r[name], self.outputs[name]) for r in rows])
            for name in sorted(self.outputs, key=_arg_index)
        }

    def describe(self) -> dict[str, Any]:
        dist, version = self.runtime
        facts: dict[str, Any] = {"runtime": dist or "tflite", "version": version, "threads": self.threads,
                                 "delegate": "XNNPACK (default)"}
        if self.interpreter is not None:
            facts["input_dtypes"] = {k: np.dtype(v["dtype"]).name for k, v in self.inputs.items()}
        return facts


def _arg_index(name: str) -> tuple[int, str]:
    """Sort args_0, args_1, ..., args_10 numerically; other names keep their alphabetical order."""
    tail = name.rsplit("_", 1)[-1]
    return (int(tail), name) if tail.isdigit() else (1 << 30, name)


def _to_input(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(value.dtype, np.floating) and np.issubdtype(dtype, np.integer):
        scale, zero = _quant(detail)
        info = np.iinfo(dtype)
        return np.clip(np.round(value / scale) + zero, info.min, info.max).astype(dtype)
    return value.astype(dtype, copy=False)  # e.g. int64 token ids -> the int32 litert-torch makes


def _from_output(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if np.issubdtype(value.dtype, np.integer):
        scale, zero = _quant(detail)
        return ((value.astype(np.float32) - zero) * scale).astype(np.float32)
    return value.astype(np.float32, copy=False)


def _quant(detail: dict[str, Any]) -> tuple[float, int]:
    params = detail.get("quantization_parameters") or {}
    scales, zeros = params.get("scales"), params.get("zero_points")
    if scales is not None and len(scales):
        return float(scales[0]), int(zeros[0])
    scale, zero = detail.get("quantization", (0.0, 0))
    if not scale:
        raise RuntimeError(f"integer tensor '{detail.get('name')}' carries no quantization scale")
    return float(scale), int(zero)
