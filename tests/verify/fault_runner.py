"""A runner that stands for an artifact whose runtime fails in the worker: killed (as by the OOM killer),
raising a runtime error, or answering NaN. The failure-injection tests point one artifact at it."""

from __future__ import annotations

import os
import signal

import numpy as np

from edgeconv.backends.onnxruntime.runner import OnnxRuntimeRunner


class FaultRunner(OnnxRuntimeRunner):
    name = "fault"

    def __init__(self, path: str, fault: str, **kwargs: object) -> None:
        super().__init__(path, **kwargs)  # type: ignore[arg-type]
        self.fault = fault

    def activate(self) -> None:
        if self.fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fault == "raise":
            raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Node (fc1_quant) Op (MatMulInteger) kernel refused")
        super().activate()

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = super()._infer(feeds)
        return {name: np.full_like(value, np.nan) for name, value in outputs.items()}
