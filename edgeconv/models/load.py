"""Load the spec's model into torch (or leave an ONNX file as it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.errors import RuntimeUnavailable, SpecError
from edgeconv.models.loaded import LoadedModel
from edgeconv.models.tasks import TASKS, TensorInfo
from edgeconv.spec import ModelSpec
from edgeconv.spec.source import resolve_model_path


def load_model(spec: ModelSpec) -> LoadedModel:
    if spec.source == "hf":
        return _load_hf(spec)
    if spec.source == "torch":
        return _load_torch_file(spec)
    raise SpecError(f"model '{spec.path}' is an ONNX file: there is no torch model to load")


def _is_local(path: str) -> bool:
    return Path(path).exists()


def hub_or_local(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    path = resolve_model_path(spec.path)
    if not _is_local(path) and (path.startswith((".", "/", "~")) or path.count("/") != 1):
        raise SpecError(f"model.path '{spec.path}' does not exist",
                        fix="point it at a model folder, a .pt2/.onnx file, or an org/name hub id")
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.revision:
        kwargs["revision"] = spec.revision
    return path, kwargs


def _load_hf(spec: ModelSpec) -> LoadedModel:
    import transformers

    from edgeconv.models.wrappers import NamedLogits

    task = TASKS[spec.task]
    path, kwargs = hub_or_local(spec)
    auto = getattr(transformers, task.auto_class)
    transformers.logging.set_verbosity_error()  # the load report would misread a merged adapter's head
    try:
        config = transformers.AutoConfig.from_pretrained(path, **kwargs)
        if spec.labels:
            config.num_labels = len(spec.labels)
            config.id2label = dict(enumerate(spec.labels))
            config.label2id = {name: i for i, name in enumerate(spec.labels)}
        # Eager attention exports the classic MatMul/Softmax pattern that ONNX Runtime fuses into its
        # Attention kernel; the SDPA export (transformers' default) is left unfused and slower.
        model = auto.from_pretrained(path, config=config, attn_implementation="eager", **kwargs)
        pre = load_preprocessor(spec)
    except (OSError, ValueError) as exc:
        raise SpecError(f"could not load model '{spec.path}': {_first_line(exc)}",
                        fix="check model.path (a local folder needs config.json and weights)") from exc
    if spec.adapter:
        model = _merge_adapter(model, spec.adapter)
    model.eval()
    names = [t.name for t in task.inputs]
    if task.data_kind == "text":
        names = [n for n in names if n in pre.model_input_names]
    inputs = [t for t in task.inputs if t.name in names]
    labels = [config.id2label[i] for i in range(config.num_labels)]
    files = [str(p) for p in (Path(path), Path(spec.adapter) if spec.adapter else None) if p and p.exists()]
    return LoadedModel(
        module=NamedLogits(model, names).eval(), inputs=inputs, output_name=task.outputs[0].name,
        labels=labels, preprocessor=pre, source_files=files,
    )


def _merge_adapter(model: Any, adapter: str) -> Any:
    if not Path(adapter).is_dir():
        raise SpecError(f"model.adapter '{adapter}' is not a folder", fix="point it at a PEFT adapter folder")
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise RuntimeUnavailable("model.adapter needs peft", fix="pip install peft") from exc
    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


def _load_torch_file(spec: ModelSpec) -> LoadedModel:
    import torch

    from edgeconv.models.wrappers import FirstOutput

    path = Path(resolve_model_path(spec.path))
    if not path.is_file():
        raise SpecError(f"model.path '{spec.path}' does not exist", fix="point it at a .pt2 or TorchScript file")
    from edgeconv.spec.source import sniff

    try:
        if sniff(str(path)) == "torch-export":
            module = torch.export.load(str(path))
        else:
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises many types for a bad archive
        raise SpecError(
            f"could not load '{path.name}' as a torch.export or TorchScript file: {_first_line(exc)}"
        ) from exc
    decls = spec.inputs or []
    inputs = [TensorInfo(d.name, d.dtype, tuple(d.shape)) for d in decls]
    pre = load_preprocessor(spec) if spec.preprocessor else None
    return LoadedModel(
        module=FirstOutput(module), inputs=inputs, output_name=TASKS[spec.task].outputs[0].name,
        labels=list(spec.labels or []), preprocessor=pre, source_files=[str(path)],
    )


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model")  # any one: a vocabulary transformers can build a tokenizer from


def load_preprocessor(spec: ModelSpec) -> Any:
    import transformers

    path = resolve_model_path(spec.preprocessor or spec.path)
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.revision and not spec.preprocessor:
        kwargs["revision"] = spec.revision
    text = TASKS[spec.task].data_kind == "text"
    local = Path(path)
    if text and local.is_dir() and not any((local / name).is_file() for name in TOKENIZER_FILES):
        # transformers would make a tokenizer with an empty vocabulary here: every word [UNK], silently
        raise SpecError(f"model '{spec.preprocessor or spec.path}' has no tokenizer files "
                        f"({', '.join(TOKENIZER_FILES)})",
                        fix="copy the tokenizer next to the weights, or point model.preprocessor at a folder with it")
    try:
        if text:
            return transformers.AutoTokenizer.from_pretrained(path, **kwargs)
        return transformers.AutoImageProcessor.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:  # no tokenizer / processor files there: bad input, before any work
        what = "tokenizer" if text else "image processor"
        raise SpecError(f"could not load the {what} of model '{spec.preprocessor or spec.path}': "
                        f"{_first_line(exc)[:200]}",
                        fix=f"the model folder needs its {what} files ("
                            + ("tokenizer.json, or vocab.txt and tokenizer_config.json" if text
                               else "preprocessor_config.json") + "), or point model.preprocessor at them") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
