"""The benchmarks import edgeconv's own modules (bench/ is run by hand, not by CI): every name they import from
edgeconv must exist, so a moved module or renamed constant fails here rather than mid-benchmark (the redesign
moved REFERENCE_RUNNER and bench/zoo.py died after its first build)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def edgeconv_imports() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "edgeconv":
                found += [(path.name, node.module, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize(("bench", "module", "name"), edgeconv_imports())
def test_every_name_a_benchmark_imports_from_edgeconv_exists(bench: str, module: str, name: str) -> None:
    imported = importlib.import_module(module)
    if not hasattr(imported, name):  # a submodule imported by name
        importlib.import_module(f"{module}.{name}")
