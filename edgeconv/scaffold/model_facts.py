"""What a model file or folder says about itself: kind, task, labels, inputs and outputs.

Read without running user code: config.json and tokenizer files as JSON, an ONNX graph's header
without its weights. TorchScript and torch.export files do not declare their input shapes in a form
worth trusting (a TorchScript signature has names only), so their inputs come from the data (npz), and
with labelled data their output's shape from one forward pass on its first example (a serialized
program the build runs anyway, not Python source): a [batch, C] output is a classifier's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from edgeconv.errors import SpecError
from edgeconv.models.folder import check_hf_folder
from edgeconv.scaffold.data_facts import DataFacts, input_decls
from edgeconv.scaffold.onnx_metadata import Metadata, read_metadata
from edgeconv.scaffold.package_recipe import package_recipe
from edgeconv.spec.source import ACCEPTED, resolve_model_path, sniff

PLACEHOLDER_LABEL = re.compile(r"^LABEL_\d+$")
TEXT_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")
ONNX_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 9: "bool"}


@dataclass
class Tensor:
    name: str
    dtype: str
    shape: list[int | str]


@dataclass
class ModelFacts:
    path: str  # as the user gave it (a pkg:// path stays one)
    local: Path
    kind: str  # hf | onnx | torchscript | torch-export
    task: str | None = None  # hf: the head config.json names; others: decided with the data
    task_why: str = ""
    labels: list[str] = field(default_factory=list)  # class names the model carries (not LABEL_0 placeholders)
    labels_why: str = ""  # where they came from
    image: dict[str, object] | None = None  # an image recipe the model file records, and
    image_why: str = ""  # where it came from
    normalisation: tuple[list[float], list[float]] | None = None  # (mean, std) recorded without a size to go with
    inputs: list[Tensor] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was read, for the spec's header comment
    max_length: int | None = None  # the tokenizer's limit

    def image_input(self) -> tuple[tuple[int, int] | None, str] | None:
        """((height, width) when fixed, layout) of a single image input (4-D, 1 or 3 channels); else None."""
        if len(self.inputs) != 1 or len(self.inputs[0].shape) != 4:
            return None
        _, a, b, c = self.inputs[0].shape
        if a in (1, 3):
            return ((b, c) if isinstance(b, int) and isinstance(c, int) else None), "NCHW"
        if c in (1, 3):
            return ((a, b) if isinstance(a, int) and isinstance(b, int) else None), "NHWC"
        return None


def inspect_model(path: str) -> ModelFacts:
    """The facts of ``path`` (a folder, a file or pkg://); SpecError (exit 2) for anything that is no model."""
    local = Path(resolve_model_path(path)).expanduser()
    if not local.exists():
        raise SpecError(f"'{path}' does not exist", fix=f"give edgeconv init {ACCEPTED}")
    kind = sniff(str(local))
    if kind == "hf":  # config.json and weights, before anything is read (a text model's tokenizer: _read_hf)
        check_hf_folder(local, path, text=False)
    facts = ModelFacts(path=path, local=local, kind=kind or "unknown")
    if kind == "hf":
        _read_hf(facts)
    elif kind == "onnx":
        _read_onnx(facts)
    else:
        facts.notes.append(f"{kind} archive: its inputs are declared from the data's arrays")
    return facts


def _read_hf(facts: ModelFacts) -> None:
    config = json.loads((facts.local / "config.json").read_text(encoding="utf-8"))
    architecture = (config.get("architectures") or [config.get("model_type", "unknown")])[0]
    has_tokenizer = any((facts.local / name).is_file() for name in TEXT_FILES)
    if architecture.endswith(("ForImageClassification", "ForSequenceClassification")):
        facts.task_why = f"config.json: {architecture}"
        facts.task = "image-classification" if architecture.endswith("ForImageClassification") \
            else "text-classification"
    elif not has_tokenizer and (facts.local / "preprocessor_config.json").is_file():
        facts.task, facts.task_why = "image-classification", "an image processor and no head yet: one is added"
    elif has_tokenizer:
        facts.task, facts.task_why = "text-classification", "a tokenizer and no head yet: one is added"
    else:
        raise SpecError(f"'{facts.path}' ({architecture}) has neither a tokenizer nor an image processor",
                        fix="edgeconv builds Hugging Face text and image classifiers; export others to ONNX first")
    check_hf_folder(facts.local, facts.path, text=facts.task == "text-classification")
    names = [str(v) for _, v in sorted((config.get("id2label") or {}).items(), key=lambda kv: int(kv[0]))]
    if names and not all(PLACEHOLDER_LABEL.match(n) for n in names):
        facts.labels, facts.labels_why = names, "config.json id2label"
    facts.notes.append(f"Hugging Face {architecture} ({config.get('model_type', '?')})"
                       + (f", {len(names)} classes in config.json" if names else ", no classification head yet"))
    tokenizer_config = facts.local / "tokenizer_config.json"
    if facts.task == "text-classification" and tokenizer_config.is_file():
        limit = json.loads(tokenizer_config.read_text(encoding="utf-8")).get("model_max_length")
        if isinstance(limit, int) and 0 < limit < 100_000:
            facts.max_length = limit


def _read_onnx(facts: ModelFacts) -> None:
    import onnx

    proto = onnx.load(str(facts.local), load_external_data=False)
    weights = {i.name for i in proto.graph.initializer}
    facts.inputs = [_tensor(v) for v in proto.graph.input if v.name not in weights]
    facts.outputs = [_tensor(v) for v in proto.graph.output]
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    producer = " ".join(p for p in (proto.producer_name, proto.producer_version) if p) or "an unnamed producer"
    facts.notes.append(f"ONNX opset {opset} from {producer}")
    _read_onnx_metadata(facts, read_metadata(proto))
    _read_package_config(facts)


def _read_package_config(facts: ModelFacts) -> None:
    """What the package that ships the model configures for it, where the file itself records nothing."""
    image = facts.image_input()
    found = package_recipe(facts.path, image[1]) if image is not None else None
    if found is None:
        return
    recipe, labels, why = found
    if facts.image is None:
        facts.image, facts.image_why = recipe, why
    classes = facts.outputs[0].shape[1] if facts.outputs and len(facts.outputs[0].shape) == 2 else None
    if labels and not facts.labels and classes == len(labels):
        facts.labels, facts.labels_why = labels, why.split(":")[0] + " label_list, in the model's order"


def _read_onnx_metadata(facts: ModelFacts, meta: Metadata) -> None:
    """Class names (in the model's order), task and image size the file's metadata records."""
    classes = facts.outputs[0].shape[1] if facts.outputs and len(facts.outputs[0].shape) >= 2 else None
    if meta.labels and (meta.task == "detection" or not isinstance(classes, int) or classes == len(meta.labels)):
        facts.labels = meta.labels
        facts.labels_why = f"the file's metadata ('{meta.labels_key}'), in the model's order"
        facts.notes.append(f"{len(meta.labels)} class names in its metadata ('{meta.labels_key}')")
    if meta.task:
        facts.task, facts.task_why = meta.task, "the file's metadata (task)"
    image = facts.image_input()
    normalised = meta.mean is not None and meta.std is not None
    size = meta.image_size or (image[0] if image else None)
    if meta.mean is not None and meta.std is not None and size is None:  # the size stays a TODO, not the mean/std
        facts.normalisation = meta.mean, meta.std
    if image is None or size is None or not (meta.image_size or normalised):
        return
    recipe: dict[str, object] = {"resize": list(size), "crop": None, "mean": meta.mean or [0, 0, 0],
                                 "std": meta.std or [1, 1, 1], "layout": image[1]}
    said = [f"imgsz {list(size)}" if meta.image_size else f"size {list(size)} from the input",
            f"mean {meta.mean}, std {meta.std}" if normalised else "pixels / 255 (it records no mean/std)"]
    if meta.ultralytics:  # Ultralytics' predictor: letterboxed (centred, grey 114), RGB / 255
        recipe.update(letterbox=True, letterbox_anchor="center", pad_value=114)
        said = ["Ultralytics", said[0], "its predictor letterboxes RGB / 255"]
    facts.image, facts.image_why = recipe, "the file's metadata: " + ", ".join(said)


def _tensor(value: object) -> Tensor:
    kind = value.type.tensor_type  # type: ignore[attr-defined]
    shape: list[int | str] = []
    for i, dim in enumerate(kind.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            shape.append(int(dim.dim_value))
        else:
            shape.append("batch" if i == 0 else (dim.dim_param or f"dim{i}"))
    return Tensor(value.name, ONNX_DTYPES.get(kind.elem_type, "float32"), shape)  # type: ignore[attr-defined]


def read_torch_output(facts: ModelFacts, data: DataFacts) -> None:
    """``facts.outputs`` of a torch file: its first output's shape on the npz's first example; a note instead when
    the model does not run on it (the task is then left to --task)."""
    import numpy as np
    import torch

    from edgeconv.models import load_model
    from edgeconv.spec import ModelSpec, TensorDecl

    decls = input_decls(data)
    try:
        loaded = load_model(ModelSpec(path=str(facts.local), task="generic",
                                      inputs=[TensorDecl(**d) for d in decls]))
        with np.load(data.path, allow_pickle=False) as arrays:  # a 1-D array holds one scalar per example
            args = [torch.from_numpy(np.asarray(arrays[d["name"]][0] if not d["shape"] else arrays[d["name"]][:1],
                                                dtype=d["dtype"])) for d in decls]
        with torch.no_grad():
            output = loaded.module(*args)
    except Exception as exc:  # any failure here only means the output's shape stays unknown
        facts.notes.append(f"its output did not come from a forward pass on the data ({type(exc).__name__}): "
                           "say --task if it is a classifier")
        return
    facts.outputs = [Tensor("output", str(output.dtype).removeprefix("torch."), ["batch", *output.shape[1:]])]
    facts.notes.append(f"output [batch, {', '.join(map(str, output.shape[1:]))}] from one forward pass on the "
                       "data's first example")


def check_npz_inputs(facts: ModelFacts, data: DataFacts, evaluation: DataFacts | None = None) -> None:
    """DataError (exit 2) when an npz set's array names, dtypes, ranks or fixed sizes contradict the ONNX file's
    inputs, or a torch file's (declared from the ``evaluation`` npz): said by the build's own check
    (``check_feeds``) before init writes a spec that could not build. The arrays are zero-copy stand-ins of the
    right dtype and shape (np.broadcast_to), so nothing big is read."""
    import numpy as np

    from edgeconv.data import FeedSet
    from edgeconv.data.make import check_feeds
    from edgeconv.models.tasks import TensorInfo

    if data.format != "npz":
        return
    if facts.kind == "onnx":
        inputs = [TensorInfo(t.name, t.dtype, tuple(t.shape)) for t in facts.inputs]
    elif evaluation is not None and evaluation.format == "npz":
        inputs = [TensorInfo(d["name"], d["dtype"], tuple(d["shape"])) for d in input_decls(evaluation)]
    else:
        return
    stand_ins = {name: np.broadcast_to(np.zeros((), dtype), shape) for name, (dtype, shape) in data.arrays.items()}
    check_feeds(FeedSet(stand_ins), inputs, data.path)
