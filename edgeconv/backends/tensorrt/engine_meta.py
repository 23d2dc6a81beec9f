"""The sidecar ``<engine>.json`` written next to every TensorRT engine, and the refusal to load a
mismatched one.

A serialized engine runs only under the TensorRT version and GPU architecture that built it; loading
it elsewhere fails deep inside TensorRT (or, across GPU models of one architecture, runs slower with
a warning). Users hit this most when copying engines to a Jetson, so the check happens before
TensorRT ever sees the file. Imports only the standard library and edgeconv.errors, so it travels
with the runner to a device.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.errors import RuntimeUnavailable

META_VERSION = 1


class EngineMismatch(RuntimeUnavailable):
    """An engine built for another TensorRT version or GPU (exit code 3: the runtime it needs is not here)."""


@dataclass
class EngineMeta:
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "8.7"
    precision: str
    flags: list[str]
    builder: str  # api | trtexec
    onnx_sha256: str
    engine_sha256: str
    plan: dict[str, Any] = field(default_factory=dict)
    meta_version: int = META_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def meta_path(engine: Path) -> Path:
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_meta(engine: Path, meta: EngineMeta) -> Path:
    """Write ``<engine>.json`` atomically. Only the build writes it, so fsutil is imported here and this module
    still travels to a device with the standard library and edgeconv.errors alone."""
    from edgeconv.fsutil import write_json

    target = meta_path(engine)
    write_json(target, meta.to_dict())
    return target


def read_meta(engine: Path) -> EngineMeta:
    path = meta_path(engine)
    if not path.is_file():
        raise EngineMismatch(f"engine '{Path(engine).name}' has no metadata file '{path.name}', so where it can run "
                             "is unknown", fix="rebuild the engine with edgeconv on the device that will run it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return EngineMeta(**{k: v for k, v in data.items() if k in EngineMeta.__dataclass_fields__})
    except (ValueError, TypeError) as exc:
        raise EngineMismatch(f"'{path.name}' is not valid engine metadata ({exc})",
                             fix="rebuild the engine with edgeconv") from exc


def check_compatible(engine: Path, tensorrt_version: str, compute_capability: str, gpu_name: str | None = None,
                     verify_hash: bool = True) -> list[str]:
    """Refuse (EngineMismatch) an engine built for another TensorRT version or GPU architecture, or
    whose bytes are not the ones recorded; return warnings (same architecture, other GPU model)."""
    meta = read_meta(engine)
    name = Path(engine).name
    if meta.tensorrt_version != tensorrt_version:
        raise EngineMismatch(
            f"engine '{name}' was built with TensorRT {meta.tensorrt_version}, this machine has {tensorrt_version}",
            fix="rebuild the engine here (edgeconv build --target <this target>); engines do not move between "
                "TensorRT versions",
        )
    if meta.compute_capability != compute_capability:
        raise EngineMismatch(
            f"engine '{name}' was built for a GPU of compute capability {meta.compute_capability} "
            f"({meta.gpu_name}), this GPU is {compute_capability} ({gpu_name or 'unknown'})",
            fix="rebuild the engine on the device that will run it",
        )
    if verify_hash and _sha256(Path(engine)) != meta.engine_sha256:
        raise EngineMismatch(f"engine '{name}' does not match the sha256 in its metadata (changed or truncated)",
                             fix="copy the engine again, or rebuild it")
    warnings = []
    if gpu_name and meta.gpu_name and meta.gpu_name != gpu_name:
        warnings.append(f"engine '{name}' was built on {meta.gpu_name} and runs on {gpu_name} (same architecture): "
                        "it runs, but kernels were timed on the other GPU")
    return warnings
