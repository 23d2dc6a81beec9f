"""Versions of the libraries that made an artifact: recorded in the manifest and in stage keys."""

from __future__ import annotations

from importlib import metadata

TRACKED = ("edgeconv", "torch", "transformers", "peft", "onnx", "onnxruntime", "numpy", "openvino", "nncf")


def of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def all_versions() -> dict[str, str | None]:
    import platform

    found = {name: of(name) for name in TRACKED}
    found["python"] = platform.python_version()
    return found
