"""The build spec (edgeconv.yaml), validated with pydantic.

Unknown keys are rejected with the closest valid name; relative paths resolve against the spec
file's folder; every error names the field and says how to fix it (see ``load_spec``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from edgeconv.errors import SpecError
from edgeconv.spec.base import StrictModel
from edgeconv.spec.budgets import Budgets
from edgeconv.spec.data import DatasetSpec, EvaluationSpec
from edgeconv.spec.errors import describe_validation_error
from edgeconv.spec.generation import GenerationSpec
from edgeconv.spec.io import DetectionSpec, ImagePreprocess, SegmentationSpec, TextPreprocess
from edgeconv.spec.prune import PruneAutoSpec, PruneSpec, RecoverSpec
from edgeconv.spec.quantize import DynamicQuantSpec, FallbackSpec, QuantizeSpec, StaticQuantSpec
from edgeconv.spec.run import CacheSpec, LatencySpec

__all__ = ["CacheSpec", "DatasetSpec", "DetectionSpec", "DynamicQuantSpec", "EvaluationSpec",  # re-exported:
           "FallbackSpec", "GenerationSpec", "LatencySpec", "PruneAutoSpec", "PruneSpec", "QuantizeSpec",  # spec.*
           "RecoverSpec", "SegmentationSpec", "StaticQuantSpec"]

# "best": TensorRT picks fp32/fp16/int8 kernels per layer (trtexec --best); only TensorRT targets list it.
# "int8-full": TFLite full-integer (int8 weights and activations); only TFLite targets list it.
# "int8-weights": int8 weights, float compute (OpenVINO/NNCF weight-only compression); only OpenVINO targets list it.
# "bf16": bfloat16 arithmetic, built only where the CPU executes it natively (AMX, AVX-512 BF16); OpenVINO only.
# "int4": 4-bit weight-only quantization (grouped, float or int8 activations); decoder LM targets only
# (task: text-generation), where int8-weights is their 8-bit weight-only precision.
Precision = Literal["fp32", "bf16", "fp16", "int8-dynamic", "int8-static", "int8-full", "int8-weights", "int4",
                    "best"]
PRECISIONS: tuple[str, ...] = Precision.__args__  # type: ignore[attr-defined]
AUTO = "auto"  # in a target's precisions: build every precision, pick the fastest that meets every budget


class TensorDecl(StrictModel):
    """An input the model takes: needed for .pt2 / TorchScript sources, optional for ONNX."""

    name: str
    dtype: Literal["float32", "float16", "int64", "int32", "bool"] = "float32"
    shape: list[int | str] = Field(description="ints are fixed, strings name dynamic axes ('batch')")


class ModelSpec(StrictModel):
    source: Literal["hf", "torch", "onnx"] | None = Field(
        None, description="inferred from path: .onnx -> onnx, .pt2/.pt/.ts -> torch, else hf"
    )
    path: str = Field(description="a folder, a file, pkg://module/subdir, or a Hugging Face hub id")
    task: Literal["text-classification", "image-classification", "classification", "detection", "segmentation",
                  "generic", "text-generation"] = Field(
        "text-classification", description="classification tasks score the first output against labels when the "
        "evaluation set has them; detection: boxes decoded (evaluation.detection), mAP against labelled boxes and "
        "the reference's detections; segmentation: per-pixel classes (evaluation.segmentation), mIoU against label "
        "masks and the reference's; generic: numeric fidelity of every output only (ONNX / torch files); "
        "text-generation: a decoder LM (a Hugging Face folder or a .gguf file) verified by perplexity, KL, token "
        "agreement and its answers (the spec's generation section)")
    adapter: str | None = Field(None, description="a PEFT (LoRA) adapter folder merged onto the model")
    preprocessor: str | None = Field(None, description="tokenizer / image processor folder; default: path")
    revision: str | None = None
    trust_remote_code: bool = False
    inputs: list[TensorDecl] | None = None
    labels: list[str] | None = None
    text: TextPreprocess = Field(default_factory=TextPreprocess)
    image: ImagePreprocess | None = Field(None, description="explicit image preprocessing (default: the processor's)")
    _source_guessed: bool = PrivateAttr(False)  # source came from the suffix: load_spec settles it by content

    @model_validator(mode="after")
    def _infer_source(self) -> ModelSpec:
        if self.source is None:  # a first guess by suffix; load_spec decides by content once paths are resolved
            suffix = Path(self.path).suffix.lower()
            self._source_guessed = True  # before the assignment, which re-runs this validator
            self.source = "onnx" if suffix == ".onnx" else "torch" if suffix in {".pt2", ".pt", ".ts"} else "hf"
        self._check_torch_inputs()
        if not self._source_guessed:  # a guessed source is settled by content first (settle_source checks then)
            self._check_task()
        return self

    def _check_task(self) -> None:
        if self.task == "text-generation" and self.source != "hf":
            raise ValueError("task text-generation takes a Hugging Face folder, a .gguf file or pkg://, not an "
                             f"{self.source} file")
        if self.source == "hf" and self.task in ("classification", "detection", "segmentation", "generic"):
            raise ValueError(f"task {self.task} is for ONNX and torch files; a Hugging Face model needs "
                             "text-classification or image-classification (the head edgeconv loads)")

    def _check_torch_inputs(self) -> None:
        if self.source == "torch" and not self.inputs:
            raise ValueError("a torch file needs model.inputs (name, dtype, shape) since it does not carry them")

    def settle_source(self) -> None:
        """Set ``source`` from what the (resolved) path holds; a source the spec gives must agree with it."""
        found = self._source_by_content()
        if found is not None:
            if not self._source_guessed and found != self.source:
                raise SpecError(f"model.source is {self.source} but '{Path(self.path).name}' is a {found} model",
                                fix=f"set model.source: {found}, or leave it out to let edgeconv tell")
            if found == "torch" and not self.inputs:
                raise SpecError(f"model: '{Path(self.path).name}' is a torch file, which does not carry its input "
                                "shapes", fix="add model.inputs: [{name: x, dtype: float32, shape: [batch, ...]}]")
            self.source = found  # type: ignore[assignment]
        try:
            self._check_task()
        except ValueError as exc:
            raise SpecError(f"model: {exc}", fix="set model.task to text-classification or image-classification") \
                from exc

    def _source_by_content(self) -> str | None:
        """hf / onnx / torch by what the path holds; None for a hub id, a missing path or an absent pkg://."""
        from edgeconv.spec.source import resolve_model_path, source_of

        try:
            local = resolve_model_path(self.path)
        except SpecError:  # pkg:// of a package not installed: prepare says so, with the fix
            return None
        return source_of(local)


class ExportSpec(StrictModel):
    opset: int = Field(17, ge=13, le=23)
    dynamic_axes: bool = True
    parity_samples: int = Field(64, gt=0, description="evaluation examples compared against torch")
    parity_atol: float = Field(1e-3, gt=0, description="max abs error allowed between torch and ONNX")


class TargetRef(StrictModel):
    """A target profile by name, with per-build choices layered on top."""

    name: str = Field("", description="a target profile (`edgeconv targets` lists them)")
    device: str | None = Field(None, description="instead of a name: a device class (x86-64, arm64, ...): every "
                               "profile of the class this machine can build, and one choice across them "
                               "(as `build --device`)")
    precisions: list[Precision | Literal["auto"]] | None = None
    required: bool = False
    threads: int | None = Field(None, gt=0)
    quantize: dict[str, Any] | None = Field(None, description="quantize settings for this target only")

    @model_validator(mode="after")
    def _name_or_device(self) -> TargetRef:
        if bool(self.name) == bool(self.device):
            raise ValueError("a target names one profile (name: x86-cpu-ort) or one device class (device: x86-64)")
        return self

    @field_validator("precisions")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("precisions are listed more than once")
        return value


class Spec(StrictModel):
    name: str = "model"
    model: ModelSpec
    calibration: DatasetSpec | None = None
    evaluation: EvaluationSpec
    export: ExportSpec = Field(default_factory=ExportSpec)
    quantize: QuantizeSpec = Field(default_factory=QuantizeSpec)
    prune: PruneSpec | None = None
    targets: list[Annotated[TargetRef, Field()]] = Field(default_factory=lambda: [TargetRef(name="x86-cpu-ort")])
    _folder: Path | None = PrivateAttr(None)  # the spec file's folder (a custom metric's module is imported from it)
    budgets: Budgets = Field(default_factory=Budgets)
    latency: LatencySpec = Field(default_factory=LatencySpec)
    generation: GenerationSpec | None = Field(None, description="task: text-generation: prompts, lengths, timing")
    cache: CacheSpec | None = None
    output: Path = Path("out")

    @field_validator("targets", mode="before")
    @classmethod
    def _names_to_refs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _static_needs_calibration(self) -> Spec:
        wants = [p for t in self.targets for p in t.precisions or [] if p in ("int8-static", "int8-full")]
        if wants and self.calibration is None:
            raise ValueError(f"{wants[0]} needs a calibration set: add calibration.path")
        return self

    @model_validator(mode="after")
    def _generation_for_generators(self) -> Spec:
        if self.model.task == "text-generation" and self.generation is None:
            self.generation = GenerationSpec()
        elif self.model.task != "text-generation" and self.generation is not None:
            raise ValueError("the generation section is for task: text-generation")
        return self

    @model_validator(mode="after")
    def _device_stands_alone(self) -> Spec:
        if self.device_class is not None and len(self.targets) > 1:
            raise ValueError("a device target (device: ...) builds every profile of its class: make it the only "
                             "entry of targets")
        return self

    @property
    def device_class(self) -> str | None:
        """The device class of a ``targets: [{device: ...}]`` spec, else None."""
        return next((t.device for t in self.targets if t.device), None)

    @model_validator(mode="after")
    def _prune_needs_torch(self) -> Spec:
        if self.prune is not None and self.model.source == "onnx":
            raise ValueError("prune works on the torch model before export; an ONNX model cannot be pruned here")
        return self

    def text_for(self, dataset: DatasetSpec) -> TextPreprocess:
        """The effective text preprocessing of a data set (its own override, else the model's)."""
        return dataset.text or self.model.text

    def image_for(self, dataset: DatasetSpec) -> ImagePreprocess | None:
        """The effective explicit image preprocessing of a data set (None: the model's processor)."""
        return dataset.image or self.model.image


def resolve_paths(spec: Spec, base: Path) -> Spec:
    """Make every local path absolute, relative to the spec file's folder."""

    def local(value: str) -> str:
        if value.startswith("pkg://"):
            return value
        candidate = (base / value).expanduser()
        return str(candidate.resolve()) if candidate.exists() or value.startswith(".") else value

    spec.model.path = local(spec.model.path)
    spec.model.settle_source()
    for name in ("adapter", "preprocessor"):
        if getattr(spec.model, name):
            setattr(spec.model, name, local(getattr(spec.model, name)))
    train = spec.prune.recover.train if spec.prune and spec.prune.recover else None
    for ds in (spec.calibration, spec.evaluation, train):
        if ds is not None:
            ds.path = (base / ds.path).resolve()
    truth = spec.evaluation.detection, spec.evaluation.segmentation
    if truth[0].labels is not None:
        truth[0].labels = (base / truth[0].labels).resolve()
    if truth[1].masks is not None:
        truth[1].masks = (base / truth[1].masks).resolve()
    spec.output = (base / spec.output).resolve()
    spec._folder = base
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
