"""What the build knows about a model before loading its weights: inputs, output, labels, preprocessor.

Reading only the config and tokenizer keeps cached re-runs fast and lets bad data be refused
before any heavy work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.errors import SpecError
from edgeconv.fsutil import sha256_tree
from edgeconv.models.family import ModelFamily
from edgeconv.models.folder import check_hf_folder
from edgeconv.models.load import hub_or_local, load_preprocessor
from edgeconv.models.tasks import TASKS, TensorInfo
from edgeconv.spec import ModelSpec
from edgeconv.spec.source import resolve_model_path

ONNX_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 9: "bool"}


@dataclass
class ModelIO:
    inputs: list[TensorInfo]
    output_name: str
    labels: list[str]
    preprocessor: Any
    family: ModelFamily
    source_sha256: dict[str, str]  # what the model was made from, for the manifest and stage keys
    output_names: list[str] = field(default_factory=list)  # every output, in order (the first is output_name)
    output_shapes: dict[str, tuple[int | str, ...]] = field(default_factory=dict)  # where the file declares them

    def __post_init__(self) -> None:
        self.output_names = self.output_names or [self.output_name]


def describe_model(spec: ModelSpec) -> ModelIO:
    task = TASKS[spec.task]  # data_kind 'any' (classification / generic) takes the file's own inputs
    if spec.source == "onnx":
        return _describe_onnx(spec)
    if spec.source == "torch":
        pre = load_preprocessor(spec) if spec.preprocessor else None
        inputs = [TensorInfo(d.name, d.dtype, tuple(d.shape)) for d in spec.inputs or []]
        labels, family = list(spec.labels or []), ModelFamily()
    else:
        import transformers

        path, kwargs = hub_or_local(spec)
        # config, weights and (unless model.preprocessor has it) a tokenizer: before any stage, in one line
        check_hf_folder(Path(path), spec.path, task.data_kind == "text" and not spec.preprocessor)
        try:  # the config first: an empty folder is "no config.json", not a tokenizer library's complaint
            config = transformers.AutoConfig.from_pretrained(path, **kwargs)
        except (OSError, ValueError) as exc:
            raise SpecError(f"could not read the config of model '{spec.path}': {str(exc).splitlines()[0]}",
                            fix="check model.path (a local folder needs config.json)") from exc
        pre = load_preprocessor(spec)
        names = pre.model_input_names if task.data_kind == "text" else [t.name for t in task.inputs]
        inputs = [t for t in task.inputs if t.name in names]
        labels = list(spec.labels or [config.id2label[i] for i in range(config.num_labels)])
        family = ModelFamily.from_config(config)
    return ModelIO(inputs, task.outputs[0].name, labels, pre, family, _source_hashes(spec))


def _describe_onnx(spec: ModelSpec) -> ModelIO:
    import onnx

    path = Path(resolve_model_path(spec.path))
    if not path.is_file():
        raise SpecError(f"model.path '{spec.path}' does not exist", fix="point it at an .onnx file")
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # protobuf raises several types for a file that is not ONNX
        raise SpecError(f"'{path.name}' is not a readable ONNX model ({exc})") from exc
    initializers = {i.name for i in graph.initializer}
    inputs = []
    for value in graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        shape = tuple(d.dim_param or d.dim_value or "dim" for d in tensor.shape.dim)
        inputs.append(TensorInfo(value.name, ONNX_DTYPES.get(tensor.elem_type, "float32"), shape))
    pre = load_preprocessor(spec) if spec.preprocessor else None
    shapes = {o.name: tuple(d.dim_param or d.dim_value or "dim" for d in o.type.tensor_type.shape.dim)
              for o in graph.output if o.type.tensor_type.HasField("shape")}
    return ModelIO(inputs, graph.output[0].name, list(spec.labels or []), pre, ModelFamily(), _source_hashes(spec),
                   [o.name for o in graph.output], shapes)


def _source_hashes(spec: ModelSpec) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for key in ("path", "adapter", "preprocessor"):
        value = getattr(spec, key)
        if value:
            local = Path(resolve_model_path(value))
            # A hub id has nothing local to hash: its id and revision stand for it.
            hashes[key] = sha256_tree(local) if local.exists() else f"hub:{value}@{spec.revision or 'main'}"
    return hashes
