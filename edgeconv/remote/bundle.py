"""What a device needs to verify an artifact, as files keyed by sha256, and how they are laid out there.

Layout on the device (``workdir``):
    cache/<sha256>          every pushed file once, by content: the next run skips what is there
    runs/<id>/pkg/...       the runner as a mini package (worker + runner base + the runner module)
    runs/<id>/artifact/...  the artifact (and its .data sidecar) under its own name
    runs/<id>/eval.npz, request.json, out/
Run folders are hard links into the cache, so nothing large is copied twice; a run folder is removed
after the run.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeconv.errors import SpecError
from edgeconv.fsutil import sha256_file

# The worker and what every runner imports; the runner module itself is added per artifact.
ALWAYS = ("edgeconv.verify.worker", "edgeconv.backends.runner")


@dataclass(frozen=True)
class Item:
    local: Path
    rel: str  # path inside the run folder
    sha256: str
    size: int


def module_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise SpecError(f"runner module {module} is not a Python source file here",
                        fix="a runner must be a plain .py module importable by the build")
    return Path(spec.origin)


def _empty_init() -> Path:
    folder = Path(tempfile.gettempdir()) / "edgeconv-remote"
    folder.mkdir(exist_ok=True)
    path = folder / "__init__.py"
    if not path.exists() or path.stat().st_size:
        path.write_text("")
    return path


def runner_items(runner: str) -> list[Item]:
    """The worker, the runner base and ``runner``'s module, with an empty ``__init__.py`` per package
    (the real ones may import the rest of edgeconv, which the device does not have)."""
    modules = [*ALWAYS, runner.partition(":")[0]]
    files: dict[str, Path] = {}
    for module in modules:
        parts = module.split(".")
        files["/".join(parts) + ".py"] = module_file(module)
        for i in range(1, len(parts)):
            files["/".join(parts[:i]) + "/__init__.py"] = _empty_init()
    return [item(path, f"pkg/{rel}") for rel, path in sorted(files.items())]


def artifact_items(artifact: Path) -> list[Item]:
    items = [item(artifact, f"artifact/{artifact.name}")]
    sidecar = artifact.with_name(artifact.name + ".data")
    if sidecar.is_file():
        items.append(item(sidecar, f"artifact/{sidecar.name}"))
    return items


def item(path: Path, rel: str) -> Item:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path} does not exist", fix="build the artifact first")
    return Item(path, rel, sha256_file(path), path.stat().st_size)
