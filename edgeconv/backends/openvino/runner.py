"""OpenVINO runner: an IR (model.xml + model.bin) compiled for a device (CPU, GPU, NPU) with a performance hint.

Imports only numpy and openvino (plus the runner base), so it can run on a device as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.backends.base import Runner


class OpenVINORunner(Runner):
    name = "openvino"

    def __init__(self, path: str, device: str = "CPU", threads: int | None = None, hint: str = "LATENCY") -> None:
        super().__init__()
        self.path = path
        self.device = device
        self.threads = threads
        self.hint = hint
        self.request: Any = None

    def activate(self) -> None:
        import openvino as ov

        core = ov.Core()
        if self.device not in core.available_devices:
            raise RuntimeError(f"OpenVINO here has no {self.device} device (has {', '.join(core.available_devices)})")
        config: dict[str, Any] = {"PERFORMANCE_HINT": self.hint}
        if self.threads and self.device == "CPU":
            config["INFERENCE_NUM_THREADS"] = self.threads
        compiled = core.compile_model(self.path, self.device, config)
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
                "hint": self.hint}
