"""The artifact a server answers with: loaded through the runner verification used, with its build's
preprocessing recipe (``out/device/``) for raw text or images, and its inputs/outputs in OIP v2 terms."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import SpecError
from edgeconv.machine import physical_cores
from edgeconv.serve.batching import BatchSettings
from edgeconv.serve.generative import GenerativeModel, is_genai_folder, load_generative

# numpy dtype <-> the Open Inference Protocol's datatype names.
DATATYPES = {"float32": "FP32", "float16": "FP16", "float64": "FP64", "int64": "INT64", "int32": "INT32",
             "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "uint16": "UINT16", "bool": "BOOL"}
NUMPY = {v: k for k, v in DATATYPES.items()}
# Ops whose quantization scale is computed over the whole input tensor at run time: a row's answer would depend on
# the rows it is batched with, so such a model's requests are never joined.
BATCH_DEPENDENT_OPS = {"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM", "QAttention"}
RUNNERS = {".onnx": "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner",
           ".tflite": "edgeconv.backends.tflite.runner:TFLiteRunner"}


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: list[int]  # -1: any size


@dataclass
class ServedModel:
    name: str
    platform: str
    runner: Any
    inputs: list[Tensor]
    recipe: dict[str, Any] | None = None  # out/device/preprocessing.json; None: tensors only
    folder: Path | None = None  # where the recipe's files are
    labels: list[str] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    path: Path | None = None  # the artifact file
    batching: BatchSettings = field(default_factory=lambda: BatchSettings(max_batch=1))
    not_batched: str | None = None  # why requests are not joined, when they are not
    slots: threading.BoundedSemaphore = field(default_factory=threading.BoundedSemaphore)

    @property
    def thread_safe(self) -> bool:
        """ONNX Runtime sessions may run concurrently; LiteRT interpreters may not."""
        return self.platform == "onnxruntime_onnx"

    def why_not_batched(self) -> str | None:
        """None when requests can be joined: every input and output has a free first dimension and no op scales
        its input over the whole batch (dynamic int8: each row's answer would depend on its batch mates)."""
        fixed = [t.name for t in [*self.inputs, *self.outputs] if not t.shape or t.shape[0] != -1]
        if fixed:
            return f"{fixed[0]} has a fixed first dimension"
        if self.path is not None and self.path.suffix == ".onnx":
            import onnx

            graph = onnx.load(str(self.path), load_external_data=False).graph
            dynamic = sorted({n.op_type for n in graph.node} & BATCH_DEPENDENT_OPS)
            if dynamic:
                return f"its {dynamic[0]} scales each input over the whole batch (dynamic int8)"
        return None

    def configure(self, requested: BatchSettings) -> BatchSettings:
        """The batching this model gets: ``requested``, less joining where it cannot batch (``not_batched``
        says why) and one instance where the runtime is not thread-safe; the runtime slots set to match."""
        self.not_batched = self.why_not_batched() if requested.max_batch > 1 else "--max-batch-size 1"
        self.batching = BatchSettings(requested.max_batch if self.not_batched is None else 1, requested.max_delay_s,
                                      requested.instances if self.thread_safe else 1)
        self.slots = threading.BoundedSemaphore(self.batching.instances)
        return self.batching

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """At most ``allow_instances`` calls at a time (one by default)."""
        with self.slots:
            return self.runner.infer(feeds)


def load_model(source: Path, target: str | None, precision: str | None, threads: int | None,
               instances: int = 1) -> ServedModel | GenerativeModel:
    """A build folder (its chosen artifact for ``target``, or ``precision``), one artifact file, or one ONNX
    Runtime GenAI folder (a text-generation artifact: served with the OpenAI-compatible endpoints). ``instances``:
    the concurrent calls the server will make, among which an ONNX Runtime session's cores are shared."""
    from edgeconv.verify.worker import load_runner

    source = Path(source)
    if source.is_dir() and is_genai_folder(source):
        name = source.parent.name if source.name == "model" else source.name  # a build's artifacts/<t>-<p>/model
        return load_generative(source, name, kwargs={"threads": threads} if threads else None)
    if source.is_dir():
        return _from_build(source, target, precision, threads, instances)
    if source.suffix not in RUNNERS or not source.is_file():
        raise SpecError(f"cannot serve '{source}'", fix="give a build folder (with report.json), an .onnx / "
                        ".tflite artifact or an ONNX Runtime GenAI folder (with genai_config.json)")
    share = _shared(threads, source.suffix, instances) or physical_cores()
    runner = load_runner(RUNNERS[source.suffix], {"path": str(source), "threads": share})
    return _describe(ServedModel(source.stem, _platform(source.suffix), runner, [], path=source))


def _shared(threads: int | None, suffix: str, instances: int) -> int | None:
    """The threads of each runtime call: as asked, else for an ONNX Runtime session (which runs concurrent calls)
    the cores shared out among ``instances``, not oversubscribed; None: the runner's recorded or default count.
    LiteRT (one call at a time) and generation keep theirs."""
    if threads is not None or suffix != ".onnx" or instances <= 1:
        return threads
    return max(1, physical_cores() // instances)


def _from_build(folder: Path, target: str | None, precision: str | None, threads: int | None,
                instances: int) -> ServedModel | GenerativeModel:
    from edgeconv.bundle.make import artifact_files, select, targets_of
    from edgeconv.results import read_report
    from edgeconv.verify.worker import load_runner

    report = read_report(folder / "report.json")
    if target is None and report.evaluation.get("task") == "text-generation":
        target = _servable_lm_target(report, precision)
    target = target or next(iter(targets_of(report)), None)
    if target is None:
        raise SpecError(f"'{folder}' holds no artifacts", fix="build first")
    entry = select(report, target, [precision] if precision else None, False, False)[0]
    if entry.runner is None:
        raise SpecError(f"report.json does not record how {entry.label} runs", fix="rebuild it with this edgeconv")
    kwargs = {**entry.runner.kwargs}
    if threads:
        kwargs["threads"] = threads
    if report.evaluation.get("task") == "text-generation":
        from edgeconv.bundle.lm_files import artifact_folder

        return load_generative(artifact_folder(folder, entry), report.spec_name or "model", entry.runner.runner,
                               kwargs)
    path = artifact_files(folder, entry)[0]
    kwargs["path"] = str(path)
    if (share := _shared(threads, path.suffix, instances)) is not None:
        kwargs["threads"] = share
    recipe_file = folder / "device" / "preprocessing.json"
    recipe = json.loads(recipe_file.read_text()) if recipe_file.is_file() else None
    model = ServedModel(report.spec_name or "model", _platform(path.suffix),
                        load_runner(entry.runner.runner, kwargs), [], recipe, folder / "device",
                        list((recipe or {}).get("labels") or []), path=path)
    return _describe(model)


def _servable_lm_target(report: Any, precision: str | None) -> str | None:
    """The first target whose chosen (or named) artifact serve runs (ONNX Runtime GenAI): a build of both
    decoder-LM runtimes is served without naming the target. None: the first target decides (and its refusal
    names the fix)."""
    from edgeconv.backends.onnxruntime_genai import RUNNER
    from edgeconv.bundle.make import select, targets_of

    for target in targets_of(report):
        try:
            entry = select(report, target, [precision] if precision else None, False, False)[0]
        except SpecError:
            continue
        if entry.runner is not None and entry.runner.runner == RUNNER:
            return target
    return None


def _platform(suffix: str) -> str:
    return {".onnx": "onnxruntime_onnx", ".tflite": "tensorflow_lite"}.get(suffix, suffix.lstrip("."))


def _describe(model: ServedModel) -> ServedModel:
    """Load the runner and read its inputs and outputs (from the recipe where the build wrote one)."""
    model.runner.__enter__()
    session = getattr(model.runner, "session", None)
    if model.recipe:
        model.inputs = [Tensor(i["name"], DATATYPES[i["dtype"]], _dims(i["shape"])) for i in model.recipe["inputs"]]
    else:
        if session is None:
            raise SpecError("a .tflite file alone does not say its input names", fix="serve its build folder")
        model.inputs = [Tensor(i.name, DATATYPES[_ort_dtype(i.type)], _dims(i.shape)) for i in session.get_inputs()]
    if session is not None:
        model.outputs = [Tensor(o.name, DATATYPES[_ort_dtype(o.type)], _dims(o.shape)) for o in session.get_outputs()]
    else:  # LiteRT: the runner dequantizes every output to float32
        model.outputs = [Tensor(name, "FP32", [int(d) for d in detail["shape"]])
                         for name, detail in model.runner.outputs.items()]
    return model


def _dims(shape: list[Any]) -> list[int]:
    """Named or unknown dimensions as -1, the protocol's 'any size'."""
    return [d if isinstance(d, int) and d > 0 else -1 for d in shape]


def _ort_dtype(onnx_type: str) -> str:
    """'tensor(float)' -> 'float32'."""
    inner = onnx_type[len("tensor("):-1]
    return {"float": "float32", "double": "float64", "float16": "float16"}.get(inner, inner)
