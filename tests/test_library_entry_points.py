"""Every command that writes a report has a library entry point that writes the same one: the CLI only parses
options, makes that call and prints (issue 33). Each test runs the command (click's CliRunner) and the library
call on the same inputs and compares what they wrote, but for the figures of a timing pass and where files lie.

One stage cache serves the module, so the second run of each pair reuses the first's stages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from edgeconv import api
from edgeconv.cli import main
from edgeconv.spec import load_spec
from tests.conftest import write_tiny_project
from tests.remote.conftest import board_profile, device, sshd  # noqa: F401  (the local sshd as a board)

# Figures of a timing pass: the only fields two runs of one build may not reproduce (paths are made relative).
# timing figures, and what is derived from them (a row is on the Pareto front by its latency too)
VOLATILE = {"latency_ms", "timings_ms", "speedup_vs_reference", "speedup_interval", "margin", "peak_memory_mb",
            "load_s", "timing", "worker_latency_ms", "conditions", "warnings", "p50_ms", "speedup", "pareto"}


def stable(value: Any, *folders: Path) -> Any:
    """``value`` without its timing figures, every path under one of ``folders`` written relative to it."""
    if isinstance(value, dict):
        return {k: stable(v, *folders) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v, *folders) for v in value]
    if isinstance(value, str):
        for folder in folders:
            value = value.replace(str(folder), "<out>")
    return value


def same_report(a: Path, b: Path) -> None:
    assert stable(json.loads((a / "report.json").read_text()), a) == \
        stable(json.loads((b / "report.json").read_text()), b)
    for name in ("report.md", "report.html", "junit.xml", "manifest.json"):
        assert (a / name).is_file() and (b / name).is_file(), name


def cli(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("entry-points-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGECONV_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(autouse=True)
def stage_cache(shared_cache: Path) -> Path:
    """Overrides conftest's cache per test: here the pairs share one."""
    return shared_cache


@pytest.fixture(scope="module")
def built(shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny project, built once by `edgeconv build` into cli/."""
    project = write_tiny_project(tmp_path_factory.mktemp("entry-points"))
    ran = cli("build", project / "edgeconv.yaml", "--out", project / "cli")
    assert ran.exit_code == 0, ran.output
    return project


def test_build(built: Path) -> None:
    result = api.build(load_spec(built / "edgeconv.yaml"), out=built / "lib")
    assert api.exit_code(result) == 0
    same_report(built / "cli", built / "lib")


@pytest.mark.parametrize("regress", [False, True])
def test_build_against_a_baseline(built: Path, regress: bool) -> None:
    baseline = json.loads((built / "cli" / "report.json").read_text())
    for artifact in baseline["artifacts"] if regress else []:
        artifact["accuracy"] = 1.0  # a baseline this build falls far short of
    path = built / f"baseline-{regress}.json"
    path.write_text(json.dumps(baseline))
    # The gate's limits are the spec's budgets: accuracy held tight, latency left to a machine's noise.
    limits = ["budgets.accuracy_drop=0.01", "budgets.max_latency_increase=100"]
    ran = cli("build", built / "edgeconv.yaml", "--out", built / f"cli-gate-{regress}", "--baseline", path,
              *[part for limit in limits for part in ("--set", limit)])
    result = api.build(load_spec(built / "edgeconv.yaml", limits), out=built / f"lib-gate-{regress}",
                       baseline=path)
    assert ran.exit_code == int(api.exit_code(result)) == (1 if regress else 0), ran.output
    assert result.gate is not None and result.gate.regressed == regress
    same_report(built / f"cli-gate-{regress}", built / f"lib-gate-{regress}")
    for side in ("cli", "lib"):
        assert (built / f"{side}-gate-{regress}" / "compare.md").is_file()


def test_verify(built: Path) -> None:
    artifact = built / "cli" / "artifacts" / "x86-cpu-ort-int8-dynamic" / "model.onnx"
    ran = cli("verify", built / "edgeconv.yaml", artifact, "--precision", "int8-dynamic", "--out",
              built / "cli-verify")
    result = api.verify_artifact(load_spec(built / "edgeconv.yaml"), artifact, "x86-cpu-ort", "int8-dynamic",
                                 built / "lib-verify")
    assert ran.exit_code == int(api.exit_code(result)), ran.output
    same_report(built / "cli-verify", built / "lib-verify")


def test_quantize(built: Path) -> None:
    from edgeconv.api.sensitivity import only_precision

    ran = cli("quantize", built / "edgeconv.yaml", "--precision", "int8-dynamic", "--out", built / "cli-q")
    spec = load_spec(built / "edgeconv.yaml", [only_precision("int8-dynamic")])
    result = api.build(spec, out=built / "lib-q")
    assert ran.exit_code == int(api.exit_code(result)), ran.output
    same_report(built / "cli-q", built / "lib-q")


def test_merge(built: Path) -> None:
    from edgeconv.api.shard import Shard
    from edgeconv.scale.merge import merge

    spec = load_spec(built / "edgeconv.yaml")
    shards = [built / f"shard-{i}" for i in (1, 2)]
    for i, folder in enumerate(shards, start=1):
        api.build(spec, out=folder, shard=Shard.parse(f"{i}/2"))
    ran = cli("merge", *shards, "--out", built / "cli-merged")
    result = merge(shards, built / "lib-merged")
    assert ran.exit_code == int(api.exit_code(result)), ran.output
    same_report(built / "cli-merged", built / "lib-merged")


def test_compare_json(tmp_path: Path) -> None:
    from edgeconv.compare.render import render_json
    from edgeconv.compare.run import compare, exit_code
    from tests.fakebuild import make_build

    a, b = make_build(tmp_path / "a"), make_build(tmp_path / "b", timing_seed=1, flip_fraction=0.05)
    ran = cli("compare", a, b, "--format", "json", "--max-accuracy-drop", "1pt")
    result = compare(a, b, max_accuracy_drop=0.01)
    assert ran.exit_code == int(exit_code(result))
    assert json.loads(ran.stdout) == json.loads(render_json(result))


def test_prune_sweep(tmp_path: Path) -> None:
    pytest.importorskip("torch_pruning", reason="Torch-Pruning is not installed (pip install edgeconv[prune])")
    from edgeconv.api.sweep import sweep
    from tests.compress.test_prune_build import tiny_bert_project

    spec = tiny_bert_project(tmp_path, {"mode": "structured", "ratio": 0.5})
    ran = cli("prune", spec, "--sweep", "0.5", "--precision", "fp32", "--json", "--out", tmp_path / "cli")
    assert ran.exit_code == 0, ran.output
    done = sweep(load_spec(spec), [0.5], ["fp32"], tmp_path / "lib")
    rows = json.loads(ran.stdout.strip().splitlines()[-1])
    assert stable(rows, tmp_path / "cli") == stable([r.to_dict() for r in done.rows], tmp_path / "lib")
    same_report(tmp_path / "cli", tmp_path / "lib")
    for side in ("cli", "lib"):
        assert "## Pruning sweep" in (tmp_path / side / "report.md").read_text()


def test_device_verify(device: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from edgeconv.api.on_device import verify_on_device

    profile = {"name": "here", "backend": "onnxruntime", "providers": ["CPUExecutionProvider"],
               "precisions": ["fp32"], "requires": ["onnxruntime"]}
    with board_profile(profile, device, tmp_path, monkeypatch, flipped=3) as (model, feeds):
        ran = cli("device", "verify", "here", model, "--feeds", feeds, "--out", tmp_path / "cli", "--runs", 11)
        assert ran.exit_code == 0, ran.output
        summary = verify_on_device("here", model, feeds, tmp_path / "lib", runs=11)
    printed = json.loads(ran.stdout)
    assert summary["accuracy"] == printed["accuracy"] == 0.75
    assert summary["device"] == printed["device"] and summary.keys() == printed.keys()
