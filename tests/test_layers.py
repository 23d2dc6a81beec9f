"""The package's layers, drawn from its imports: a lower layer never imports a higher one, no import circles,
no private helper taken from another package, and a top level a newcomer can read (docs/architecture.md).

Every ``import`` counts, the lazy ones inside functions and those under ``TYPE_CHECKING`` included: a lazy
import is still a dependency, it only hides it from the start-up time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "edgeconv"

# Lowest first. A unit may import its own layer and any layer below it.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "fsutil", "versions", "machine", "progress"),  # no edgeconv knowledge beyond the basics
    ("spec",),  # what the user asked for: the spec, target profiles, device configs, model sources
    ("results", "metric_table"),  # what a build measured: typed rows, the report.json contract, each figure's rule
    ("cache",),  # the content-addressed stage cache and its remote tier
    ("models", "data"),  # a model without its weights loaded, and the feeds every runtime sees
    ("verify",),  # measuring: fidelity, task metrics, timing, the worker that runs one artifact
    ("export",),  # torch / ONNX files -> the fp32 ONNX reference, with parity
    ("compress",),  # quantization recipes, pruning, the int8 search
    ("remote",),  # the link to a board (SSH, files, probes)
    ("backends",),  # one folder per runtime: build steps and runners
    ("choose", "report"),  # picking among measured rows, and writing them down
    ("compare",),  # two builds' reports held against each other: `build --baseline`'s gate is part of a build
    ("api",),  # build orchestration: plan, prepare, session, measure, prune levels, sweeps, reports and the gate
    ("bundle", "serve", "scaffold", "scale", "doctor"),  # features built on builds
    ("cli",),  # one command per module: options and printing
]
RANK = {unit: i for i, units in enumerate(LAYERS) for unit in units}

# Imports that run up a layer, each with the reason it stays. Type-only: the int8 search's judge is built from a
# backend's BuildContext, which stays with the backends.
ALLOWED_UPWARD = {("edgeconv.compress.judge", "edgeconv.backends.backend")}
MAX_TOP_LEVEL = 28


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "device" not in p.relative_to(PACKAGE).parts[1:2]}


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every edgeconv import in ``path``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.startswith("edgeconv")]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])]) \
                if node.level else node.module or ""
            if not base.startswith("edgeconv"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, None) if sub in known else (base, alias.name))
    return found


def _graph() -> tuple[nx.DiGraph, list[tuple[str, str, str]]]:
    modules = _modules()
    graph = nx.DiGraph()
    private: list[tuple[str, str, str]] = []
    for name, path in modules.items():
        graph.add_node(name)
        for target, imported in _imports(name, path, set(modules)):
            if target != name:
                graph.add_edge(name, target)
            if imported and imported.startswith("_") and not imported.startswith("__") \
                    and _unit(target) != _unit(name):
                private.append((name, target, imported))
    return graph, private


def _unit(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_top_level_unit_has_a_layer_and_the_top_level_stays_small() -> None:
    entries = sorted(p.stem for p in PACKAGE.iterdir() if p.name not in ("__init__.py", "__pycache__")
                     and (p.suffix == ".py" or p.is_dir()))
    assert len(entries) <= MAX_TOP_LEVEL, entries
    assert sorted(set(entries) - set(RANK)) == [], "add the new unit to LAYERS (and docs/architecture.md)"


def test_no_lower_layer_imports_a_higher_one() -> None:
    graph, _ = _graph()
    upward = {(a, b) for a, b in graph.edges if _unit(a) in RANK and _unit(b) in RANK
              and RANK[_unit(b)] > RANK[_unit(a)]}
    assert upward - ALLOWED_UPWARD == set(), "a lower layer imports a higher one: move the shared piece down"
    assert len(ALLOWED_UPWARD) <= 5


def test_no_import_cycles() -> None:
    graph, _ = _graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert cycles == []


def test_no_private_helper_crosses_a_package() -> None:
    _, private = _graph()
    assert private == [], "make the helper public where it belongs, or move it"
