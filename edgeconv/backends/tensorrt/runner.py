"""TensorRT runner: executes a serialized engine through the Runner protocol (TensorRT 10 API).

Device buffers are torch CUDA tensors (torch is already a dependency; cuda-python would do the same
job), inference is ``execute_async_v3`` on a torch CUDA stream, and ``last_inference_s`` is the
time between two CUDA events around the enqueue, i.e. GPU time for the query. Before TensorRT sees
the engine, its sidecar metadata is checked against this machine (engine_meta.check_compatible).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeconv.backends.runner import Runner


class TensorRTRunner(Runner):
    name = "tensorrt"

    def __init__(self, path: str, check_meta: bool = True) -> None:
        super().__init__()
        self.path = path
        self.check_meta = check_meta
        self.warnings: list[str] = []
        self.engine: Any = None
        self.context: Any = None

    def activate(self) -> None:
        import tensorrt as trt
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device; the TensorRT runner needs one for its buffers")
        self.device = torch.device("cuda")
        if self.check_meta:
            from edgeconv.backends.tensorrt.engine_meta import check_compatible

            major, minor = torch.cuda.get_device_capability()
            self.warnings = check_compatible(self.path, trt.__version__, f"{major}.{minor}",
                                             torch.cuda.get_device_name())
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        with open(self.path, "rb") as f:
            self.engine = self.runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not deserialize {self.path}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.stream = torch.cuda.Stream()
        self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def deactivate(self) -> None:
        self.context = None
        self.engine = None

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        keep = []  # device tensors must outlive the enqueue
        for name in self.inputs:
            array = np.ascontiguousarray(feeds[name], dtype=self.dtypes[name])
            self.context.set_input_shape(name, tuple(array.shape))
            tensor = torch.from_numpy(array).to(self.device, non_blocking=False)
            self.context.set_tensor_address(name, tensor.data_ptr())
            keep.append(tensor)
        outputs = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            tensor = torch.empty(shape, dtype=_torch_dtype(self.dtypes[name]), device=self.device)
            self.context.set_tensor_address(name, tensor.data_ptr())
            outputs[name] = tensor
        with torch.cuda.stream(self.stream):
            self.start.record(self.stream)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            self.end.record(self.stream)
        self.stream.synchronize()
        self.gpu_time_s = self.start.elapsed_time(self.end) / 1000.0
        return {name: tensor.cpu().numpy() for name, tensor in outputs.items()}

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; ``last_inference_s`` is the CUDA-event time of the execution (not host copies)."""
        outputs = self._infer(feeds)
        self.last_inference_s = self.gpu_time_s
        return outputs

    def describe(self) -> dict[str, Any]:
        import tensorrt as trt
        import torch

        return {"runtime": "tensorrt", "version": trt.__version__, "device": torch.cuda.get_device_name(),
                "timing": "cuda-events", "warnings": self.warnings}


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return {np.dtype("float32"): torch.float32, np.dtype("float16"): torch.float16, np.dtype("int32"): torch.int32,
            np.dtype("int64"): torch.int64, np.dtype("int8"): torch.int8, np.dtype("bool"): torch.bool,
            np.dtype("uint8"): torch.uint8}[np.dtype(dtype)]
