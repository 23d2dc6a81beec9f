"""The build spec (edgeconv.yaml), validated with pydantic.

Unknown keys are rejected with the closest valid name; relative paths resolve against the spec
file's folder; every error names the field and says how to fix it (see ``load_spec``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgeconv.errors import SpecError
from edgeconv.spec_errors import describe_validation_error

Precision = Literal["fp32", "fp16", "int8-dynamic", "int8-static", "int8-full"]  # int8-full: TFLite full-integer
PRECISIONS: tuple[str, ...] = Precision.__args__  # type: ignore[attr-defined]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)


class TensorDecl(StrictModel):
    """An input the model takes: needed for .pt2 / TorchScript sources, optional for ONNX."""

    name: str
    dtype: Literal["float32", "float16", "int64", "int32", "bool"] = "float32"
    shape: list[int | str] = Field(description="ints are fixed, strings name dynamic axes ('batch')")


class TextPreprocess(StrictModel):
    """How text becomes token ids. Calibration and evaluation must agree on these."""

    max_length: int = Field(128, gt=0, le=8192)
    padding: Literal["max_length", "longest"] = "max_length"
    truncation: bool = True


class ModelSpec(StrictModel):
    source: Literal["hf", "torch", "onnx"] | None = Field(
        None, description="inferred from path: .onnx -> onnx, .pt2/.pt/.ts -> torch, else hf"
    )
    path: str = Field(description="a folder, a file, pkg://module/subdir, or a Hugging Face hub id")
    task: Literal["text-classification", "image-classification"] = "text-classification"
    adapter: str | None = Field(None, description="a PEFT (LoRA) adapter folder merged onto the model")
    preprocessor: str | None = Field(None, description="tokenizer / image processor folder; default: path")
    revision: str | None = None
    trust_remote_code: bool = False
    inputs: list[TensorDecl] | None = None
    labels: list[str] | None = None
    text: TextPreprocess = Field(default_factory=TextPreprocess)

    @model_validator(mode="after")
    def _infer_source(self) -> ModelSpec:
        if self.source is None:
            suffix = Path(self.path).suffix.lower()
            self.source = "onnx" if suffix == ".onnx" else "torch" if suffix in {".pt2", ".pt", ".ts"} else "hf"
        if self.source == "torch" and not self.inputs:
            raise ValueError("a torch file needs model.inputs (name, dtype, shape) since it does not carry them")
        return self


class DatasetSpec(StrictModel):
    """A labelled or unlabelled set of examples: JSONL/CSV text or .npz tensors."""

    path: Path
    format: Literal["jsonl", "csv", "npz"] | None = Field(None, description="inferred from the file suffix")
    count: int | None = Field(None, gt=0, description="use at most this many examples")
    seed: int = 0
    text_field: str = "text"
    text_pair_field: str | None = None
    label_field: str | None = "label"
    text: TextPreprocess | None = Field(None, description="overrides model.text for this set")

    @model_validator(mode="after")
    def _infer_format(self) -> DatasetSpec:
        if self.format is None:
            suffix = self.path.suffix.lower().lstrip(".")
            if suffix not in {"jsonl", "csv", "npz"}:
                raise ValueError(f"cannot tell the format of '{self.path.name}'; set format: jsonl, csv or npz")
            self.format = suffix  # type: ignore[assignment]
        return self


class EvaluationSpec(DatasetSpec):
    metric: Literal["accuracy", "macro_f1"] = "accuracy"


class ExportSpec(StrictModel):
    opset: int = Field(17, ge=13, le=23)
    dynamic_axes: bool = True
    parity_samples: int = Field(64, gt=0, description="evaluation examples compared against torch")
    parity_atol: float = Field(1e-3, gt=0, description="max abs error allowed between torch and ONNX")


class StaticQuantSpec(StrictModel):
    """Settings for int8-static (QDQ) artifacts; the quantization stage reads these."""

    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    percentile: float = Field(99.999, gt=90, lt=100)
    per_channel: bool = True
    activation_type: Literal["uint8", "int8"] = "uint8"
    op_types: list[str] = Field(default_factory=lambda: ["MatMul", "Gemm", "Conv"])
    exclude_nodes: list[str] = Field(default_factory=list)
    activation_matmuls: bool = Field(
        False, description="also quantize MatMuls of two activations (attention scores); off: measured -0.7 pt"
    )


class QuantizeSpec(StrictModel):
    static: StaticQuantSpec = Field(default_factory=StaticQuantSpec)
    fuse: bool = Field(True, description="apply ONNX Runtime's transformer fusions before quantizing")


class TargetRef(StrictModel):
    """A target profile by name, with per-build choices layered on top."""

    name: str
    precisions: list[Precision] | None = None
    required: bool = False
    threads: int | None = Field(None, gt=0)

    @field_validator("precisions")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("precisions are listed more than once")
        return value


class Budgets(StrictModel):
    accuracy_drop: float | None = Field(None, ge=0, le=1, description="max drop vs fp32, as a fraction")
    min_agreement: float | None = Field(None, ge=0, le=1, description="min top-1 agreement with fp32")
    p90_latency_ms: float | None = Field(None, gt=0)
    max_size_mb: float | None = Field(None, gt=0)


class LatencySpec(StrictModel):
    warmup: int = Field(20, ge=0)
    runs: int = Field(200, gt=10)
    min_time_s: float = Field(1.0, ge=0)
    batch_size: int = Field(1, gt=0)


class Spec(StrictModel):
    name: str = "model"
    model: ModelSpec
    calibration: DatasetSpec | None = None
    evaluation: EvaluationSpec
    export: ExportSpec = Field(default_factory=ExportSpec)
    quantize: QuantizeSpec = Field(default_factory=QuantizeSpec)
    targets: list[Annotated[TargetRef, Field()]] = Field(default_factory=lambda: [TargetRef(name="x86-cpu-ort")])
    budgets: Budgets = Field(default_factory=Budgets)
    latency: LatencySpec = Field(default_factory=LatencySpec)
    output: Path = Path("out")

    @field_validator("targets", mode="before")
    @classmethod
    def _names_to_refs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _static_needs_calibration(self) -> Spec:
        wants_static = any("int8-static" in (t.precisions or []) for t in self.targets)
        if wants_static and self.calibration is None:
            raise ValueError("int8-static needs a calibration set: add calibration.path")
        return self

    def text_for(self, dataset: DatasetSpec) -> TextPreprocess:
        """The effective text preprocessing of a data set (its own override, else the model's)."""
        return dataset.text or self.model.text


def resolve_paths(spec: Spec, base: Path) -> Spec:
    """Make every local path absolute, relative to the spec file's folder."""

    def local(value: str) -> str:
        if value.startswith("pkg://"):
            return value
        candidate = (base / value).expanduser()
        return str(candidate.resolve()) if candidate.exists() or value.startswith(".") else value

    spec.model.path = local(spec.model.path)
    for name in ("adapter", "preprocessor"):
        if getattr(spec.model, name):
            setattr(spec.model, name, local(getattr(spec.model, name)))
    for ds in (spec.calibration, spec.evaluation):
        if ds is not None:
            ds.path = (base / ds.path).resolve()
    spec.output = (base / spec.output).resolve()
    return spec


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML) to the raw spec dict."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--set '{item}' is not key.path=value", fix="e.g. --set budgets.accuracy_drop=0.01")
        node: Any = raw
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = node[_index(part, key)]
                continue
            if part == "targets" and isinstance(node.get(part), list):
                node[part] = [{"name": v} if isinstance(v, str) else v for v in node[part]]
            node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise SpecError(f"--set {key}: '{'.'.join(parts[: i + 1])}' is a value, not a section")
        last = parts[-1]
        value = yaml.safe_load(text)
        if isinstance(node, list):
            node[_index(last, key)] = value
        else:
            node[last] = value
    return raw


def _index(part: str, key: str) -> int:
    if not part.isdigit():
        raise SpecError(f"--set {key}: '{part}' indexes a list and must be a number")
    return int(part)


def load_spec(path: Path, overrides: list[str] | None = None) -> Spec:
    """Read, override, validate and resolve a spec file; raise SpecError with one clear line."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file '{path}' not found", fix="pass the path to an edgeconv.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"{path.name} is not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path.name} must be a mapping of sections (model, evaluation, targets, ...)")
    raw = apply_overrides(raw, overrides or [])
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc, Spec, path.name)) from exc
    return resolve_paths(spec, path.parent.resolve())
