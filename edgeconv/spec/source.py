"""What a model path is, by its content rather than its name.

Users' files carry every suffix (a TorchScript archive named ``.jit``, ``.pth`` or ``.bin``, a
``.pt2`` renamed ``.pt``); guessing from the suffix sent them down the wrong loader and ended in a
traceback. TorchScript and ``torch.export`` archives are zip files told apart by their entries
(``code/`` + ``constants.pkl`` vs ``archive_format``); an ONNX file is a protobuf with a graph.
Only the names in the zip and the protobuf's header are read: nothing is unpickled.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

from edgeconv.errors import SpecError

ACCEPTED = ("a Hugging Face model folder (config.json), an ONNX file, a TorchScript archive (torch.jit.save), "
            "a torch.export archive (torch.export.save), or an org/name hub id")
KINDS = {"hf": "hf", "onnx": "onnx", "torchscript": "torch", "torch-export": "torch", "gguf": "hf"}


def sniff(path: str) -> str | None:
    """'hf', 'onnx', 'torchscript', 'torch-export' or 'gguf' (a decoder LM that transformers dequantizes, so
    its source is hf) for a local path; None when nothing is there.

    Raises SpecError for a file that is none of these (a weights-only checkpoint included).
    """
    local = Path(path).expanduser()
    if local.is_dir():
        return "hf"
    if not local.is_file():
        return None
    if zipfile.is_zipfile(local):
        return _torch_archive(local)
    with local.open("rb") as f:
        if f.read(4) == b"GGUF":
            return "gguf"
    if _is_onnx(local):
        return "onnx"
    raise SpecError(f"model.path '{local.name}' is not a model edgeconv can read", fix=f"give it {ACCEPTED}")


def source_of(path: str) -> str | None:
    """The spec's ``model.source`` for ``path`` (hf / onnx / torch), or None when it is not a local path."""
    kind = sniff(path)
    return KINDS[kind] if kind else None


def _torch_archive(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return "torch-export"
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        raise SpecError(
            f"model.path '{path.name}' is a torch.save checkpoint (a pickle of weights or of a module), which needs "
            "the model's Python code to load and is unsafe to unpickle",
            fix=f"save it as one of: {ACCEPTED}")
    raise SpecError(f"model.path '{path.name}' is a zip archive but not a model edgeconv can read",
                    fix=f"give it {ACCEPTED}")


def _is_onnx(path: Path) -> bool:
    """A protobuf that parses as a ModelProto with an IR version and a graph (protobuf parses much as 'valid')."""
    import onnx

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception:  # protobuf raises several types for bytes that are not a ModelProto
        return False
    return model.ir_version > 0 and len(model.graph.node) > 0


def resolve_model_path(value: str) -> str:
    """A local path for ``pkg://module/sub/dir`` (a model a Python package ships); else ``value``.

    ``find_spec`` locates the package without importing it (some packages that ship data have
    imports we do not want to pay for).
    """
    if not value.startswith("pkg://"):
        return value
    module, _, sub = value.removeprefix("pkg://").partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SpecError(f"model.path '{value}': Python package '{module}' is not installed",
                        fix=f"pip install {module.replace('_', '-')}")
    path = Path(next(iter(spec.submodule_search_locations))) / sub
    if not path.exists():
        raise SpecError(f"model.path '{value}': '{sub}' not found inside package '{module}'")
    return str(path)
