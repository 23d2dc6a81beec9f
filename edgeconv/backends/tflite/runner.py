"""TFLite (LiteRT) runner: the interpreter from ai-edge-litert, or tflite-runtime where only that exists.

Imports only numpy and the interpreter (plus the runner base), so it runs as is on a Raspberry Pi or
Jetson that has ``pip install tflite-runtime`` (numpy < 2) or ``ai-edge-litert``. The XNNPACK
delegate, applied by default, takes the profile's thread count through ``num_threads``.

The artifacts are batch-1, static-shape flatbuffers whose signature names the inputs ``args_0..N``
in the model's argument order (litert-torch's naming); ``input_names`` maps the model's names onto
them. Token ids arrive as int64 and are cast to the int32 the flatbuffer takes; float inputs of an
int8/uint8 model are quantized with the tensor's own scale and zero point, and integer outputs are
dequantized, so every runtime is compared on float logits.

A text model converted with length buckets (``latency.buckets``) has one signature per sequence length: each
example runs in the smallest that holds its attention mask (right padding: the last 1 of the mask), every input
shaped like the mask cut (or zero-padded) to that length, so verification, timing and a bundle's run.py all run
the bucket a device would.
"""

from __future__ import annotations

from importlib.metadata import version as dist_version
from typing import Any

import numpy as np

from edgeconv.backends.runner import Runner

MASK = "attention_mask"  # edgeconv.data.trim.MASK: runners import nothing of edgeconv above backends/runner.py


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
        self.buckets: list[int] = []  # the sequence lengths of a bucketed model's signatures, ascending
        self.signatures: dict[int, tuple[Any, dict[str, Any], dict[str, Any]]] = {}  # length -> runner, details

    def activate(self) -> None:
        cls, dist, version = load_interpreter_class()
        self.runtime = (dist, version)
        self.interpreter = cls(model_path=self.path, num_threads=self.threads)
        signatures = self.interpreter.get_signature_list()
        if not signatures:
            raise RuntimeError(f"{self.path} has no signature: convert it with litert-torch (edgeconv does)")
        keys = [self.signature] if self.signature else list(signatures)
        self.signatures = {}
        for key in keys:
            runner = self.interpreter.get_signature_runner(key)
            inputs = runner.get_input_details()
            self.signatures[_length(inputs) if len(keys) > 1 else 0] = (runner, inputs, runner.get_output_details())
        self.buckets = sorted(self.signatures) if len(keys) > 1 else []
        # the largest signature (the padded length) names the inputs and outputs every bucket shares
        self.runner, self.inputs, self.outputs = self.signatures[max(self.signatures)]

    def deactivate(self) -> None:
        self.runner = None
        self.signatures = {}
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
            row = {k: v if k in whole else v[i : i + 1] for k, v in feeds.items()}
            (runner, inputs, outputs), row = self._bucket(row)
            result = runner(**{mapping[k]: _to_input(v, inputs[mapping[k]]) for k, v in row.items()})
            rows.append({k: _from_output(v, outputs[k]) for k, v in result.items()})  # its own signature's scales
        return {name: np.concatenate([r[name] for r in rows]) for name in sorted(self.outputs, key=_arg_index)}

    def _bucket(self, row: dict[str, np.ndarray]) -> tuple[tuple[Any, dict[str, Any], dict[str, Any]],
                                                           dict[str, np.ndarray]]:
        """The signature that runs one example (runner, input and output details) and the example at its length:
        the smallest bucket holding the mask's last 1 (the largest without a mask, or for a longer example)."""
        mask = row.get(MASK)
        if not self.buckets or mask is None or mask.ndim != 2:
            return (self.runner, self.inputs, self.outputs), row
        used = np.flatnonzero(mask.reshape(-1))
        length = int(used[-1]) + 1 if used.size else 1
        edge = next((b for b in self.buckets if length <= b), self.buckets[-1])
        return self.signatures[edge], {k: _to_length(v, edge) if v.shape == mask.shape else v for k, v in row.items()}

    def describe(self) -> dict[str, Any]:
        dist, version = self.runtime
        facts: dict[str, Any] = {"runtime": dist or "tflite", "version": version, "threads": self.threads,
                                 "delegate": "XNNPACK (default)"}
        if self.interpreter is not None:
            facts["input_dtypes"] = {k: np.dtype(v["dtype"]).name for k, v in self.inputs.items()}
        if self.buckets:
            facts["buckets"] = self.buckets
        return facts


def _arg_index(name: str) -> tuple[int, str]:
    """Sort args_0, args_1, ..., args_10 numerically; other names keep their alphabetical order."""
    tail = name.rsplit("_", 1)[-1]
    return (int(tail), name) if tail.isdigit() else (1 << 30, name)


def _length(inputs: dict[str, Any]) -> int:
    """A bucket's sequence length: its 2-D (batch 1 x length) inputs' length."""
    lengths = {int(d["shape"][-1]) for d in inputs.values() if len(d["shape"]) == 2}
    if len(lengths) != 1:
        raise RuntimeError(f"a model with several signatures is run as length buckets, and one signature's token "
                           f"inputs have lengths {sorted(lengths)}: give the runner signature=<key>")
    return lengths.pop()


def _to_length(value: np.ndarray, length: int) -> np.ndarray:
    """``value`` cut along its sequence axis to ``length``, or zero-padded to it (the mask's zeros hide the pad)."""
    if value.shape[1] >= length:
        return np.ascontiguousarray(value[:, :length])
    return np.pad(value, ((0, 0), (0, length - value.shape[1])))


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
