"""ONNX Runtime runner: CPU execution provider (thread count from the target), CUDA when present.

Imports only numpy and onnxruntime (plus the runner base), so it can run on a device as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.backends.runner import Runner


class OnnxRuntimeRunner(Runner):
    name = "onnxruntime"

    def __init__(self, path: str, providers: list[str] | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.path = path
        self.providers = providers or ["CPUExecutionProvider"]
        self.threads = threads
        self.spin_between_calls = True
        self.session: Any = None

    def share_cores(self) -> None:
        self.spin_between_calls = False

    def activate(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        if not self.spin_between_calls:
            # why: verify.timing.ORT_STOP_SPINNING (this module runs on boards with numpy and ORT alone)
            options.add_session_config_entry("session.force_spinning_stop", "1")
        available = set(ort.get_available_providers())
        missing = [p for p in self.providers if p not in available]
        if missing:
            raise RuntimeError(f"ONNX Runtime here lacks {', '.join(missing)} (has {', '.join(sorted(available))})")
        self.session = ort.InferenceSession(self.path, options, providers=self.providers)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def deactivate(self) -> None:
        self.session = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds), strict=True))

    def describe(self) -> dict[str, Any]:
        import onnxruntime as ort

        return {
            "runtime": "onnxruntime", "version": ort.__version__, "threads": self.threads,
            "providers": self.session.get_providers() if self.session else self.providers,
        }
