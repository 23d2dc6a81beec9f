"""OpenVINO runner: an IR (model.xml + model.bin) compiled for a device (CPU, GPU, NPU) with a performance hint
and an inference precision.

OpenVINO's CPU plugin runs an fp32 IR in bf16 on CPUs with AMX or AVX-512 BF16 unless ``INFERENCE_PRECISION_HINT``
says otherwise (measured on a Xeon with AMX: an "fp32" artifact 14.6 dB from the reference, f32 116 dB), so the
runner always passes the precision its artifact is labelled with and reports what the compiled model executes.

Imports only numpy and openvino (plus the runner base), so it can run on a device as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.backends.runner import Runner


class OpenVINORunner(Runner):
    name = "openvino"

    def __init__(self, path: str, device: str = "CPU", threads: int | None = None, hint: str = "LATENCY",
                 inference_precision: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.device = device
        self.threads = threads
        self.hint = hint
        self.inference_precision = inference_precision  # f32, bf16, f16; None: the device's default
        self.executes: str | None = None
        self.request: Any = None

    def activate(self) -> None:
        import openvino as ov

        core = ov.Core()
        if self.device not in core.available_devices:
            raise RuntimeError(f"OpenVINO here has no {self.device} device (has {', '.join(core.available_devices)})")
        config: dict[str, Any] = {"PERFORMANCE_HINT": self.hint}
        if self.threads and self.device == "CPU":
            config["INFERENCE_NUM_THREADS"] = self.threads
        if self.inference_precision:
            config["INFERENCE_PRECISION_HINT"] = self.inference_precision
        compiled = core.compile_model(self.path, self.device, config)
        try:  # what the compiled model executes, in OpenVINO's words (f32, bf16, f16)
            self.executes = str(compiled.get_property("INFERENCE_PRECISION_HINT").to_string())
        except Exception:  # a plugin without the property (some NPU drivers): unknown, not a failure
            self.executes = None
        self.outputs = [(o.get_any_name(), o) for o in compiled.outputs]
        self.request = compiled.create_infer_request()

    def deactivate(self) -> None:
        self.request = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self.request.infer(feeds)
        return {name: np.array(result[port]) for name, port in self.outputs}

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {"runtime": "openvino", "version": version("openvino"), "device": self.device, "threads": self.threads,
                "hint": self.hint, "executes": self.executes}
