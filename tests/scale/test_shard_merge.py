"""Sharded builds (`--shard I/N`, two processes) merged with `edgeconv merge` equal one build in every field but
timings and paths; mismatched, missing or foreign shards are refused in one line (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeconv.cli import main
from tests.conftest import write_spec

CLI = [sys.executable, "-c", "from edgeconv.cli import main; main()"]
# Figures of a timing pass and where files lie: the only fields a merge may not reproduce.
VOLATILE = {"latency_ms", "timings_ms", "speedup_vs_reference", "speedup_interval", "margin", "peak_memory_mb",
            "load_s", "timing", "worker_latency_ms", "timing_pass", "conditions", "warnings", "path", "shard", "merged"}


def stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def shards(project: Path, count: int, *extra: str, absolute: bool = False) -> list[Path]:
    """Every shard of the build, each in its own process, side by side (as CI runners would); ``absolute``:
    --out as an absolute path (the report's paths are then absolute too)."""
    outs = [str(project / f"shard-{i}") if absolute else f"shard-{i}" for i in range(1, count + 1)]
    procs = [subprocess.Popen([*CLI, "build", "edgeconv.yaml", "--shard", f"{i}/{count}", "--out", outs[i - 1],
                               *extra], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(1, count + 1)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    return [project / f"shard-{i}" for i in range(1, count + 1)]


def test_two_shards_merged_equal_one_build(tiny_project: Path) -> None:
    folders = shards(tiny_project, 2)
    parts = [json.loads((f / "report.json").read_text()) for f in folders]
    assert [p["shard"]["cells"] for p in parts] == [["x86-cpu-ort/fp32", "x86-cpu-ort/int8-static"],
                                                    ["x86-cpu-ort/int8-dynamic"]]
    assert [len(p["artifacts"]) for p in parts] == [2, 1]

    merged = CliRunner().invoke(main, ["merge", *map(str, folders), "--out", str(tiny_project / "merged")])
    assert merged.exit_code == 0, merged.output
    single = CliRunner().invoke(main, ["build", str(tiny_project / "edgeconv.yaml"), "--out",
                                       str(tiny_project / "single")])
    assert single.exit_code == 0, single.output
    joined = json.loads((tiny_project / "merged" / "report.json").read_text())
    one = json.loads((tiny_project / "single" / "report.json").read_text())
    assert stable(joined) == stable(one)
    assert [s["shard"] for s in joined["merged"]["shards"]] == ["1/2", "2/2"]
    # the merged folder holds the artifacts, and its manifest points at them
    manifest = json.loads((tiny_project / "merged" / "manifest.json").read_text())
    for entry in manifest["artifacts"].values():
        assert Path(entry["path"]).is_file() and str(tiny_project / "merged") in entry["path"]
    for name in ("report.md", "report.html", "junit.xml"):
        assert (tiny_project / "merged" / name).stat().st_size > 0
    assert "Merged from 2 shard(s) (1/2: x86-cpu-ort/fp32" in (tiny_project / "merged" / "report.md").read_text()


def test_merge_chooses_auto_over_every_shard_by_speedup(tiny_project: Path) -> None:
    write_spec(tiny_project, targets=[{"name": "x86-cpu-ort", "precisions": ["auto"]}])
    folders = shards(tiny_project, 2, absolute=True)
    assert all(json.loads((f / "report.json").read_text())["selections"] == [] for f in folders)
    result = CliRunner().invoke(main, ["merge", *map(str, folders), "--out", str(tiny_project / "merged"),
                                       "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (choice,) = report["selections"]
    eligible = [a for a in report["artifacts"] if a["status"] == "passed"
                and (a["precision"] == "fp32" or a["speedup_interval"][1] >= 1.0)]
    fastest = max(eligible, key=lambda a: a["speedup_vs_reference"])  # each over its own pass's reference
    ties = [a for a in eligible if a["speedup_interval"][1] >= fastest["speedup_interval"][0]]
    chosen = next(a for a in ties if a["precision"] == choice["precision"])  # among the fastest's ties ...
    assert chosen["size_bytes"] == min(a["size_bytes"] for a in ties)  # ... the smallest
    assert {a["timing_pass"]["shard"] for a in report["artifacts"]} == {"1/2", "2/2"}
    # the shards wrote absolute paths: the merged report points at the copies under --out
    assert all(a["path"].startswith(str(tiny_project / "merged")) for a in report["artifacts"])


def test_mismatched_missing_and_foreign_shards_are_refused(tiny_project: Path) -> None:
    folders = shards(tiny_project, 2)
    runner = CliRunner()
    other = runner.invoke(main, ["build", str(tiny_project / "edgeconv.yaml"), "--shard", "2/2", "--out",
                                 str(tiny_project / "other"), "--set", "budgets.accuracy_drop=0.04"])
    assert other.exit_code == 0, other.output
    cases = {
        "was built from a different spec": [folders[0], tiny_project / "other"],
        "shard 2/2 missing": [folders[0]],
        "shard 1/2 given twice": [folders[0], folders[0], folders[1]],
        "is not a shard": [folders[0], tiny_project / "out-not-a-shard"],
    }
    plain = runner.invoke(main, ["build", str(tiny_project / "edgeconv.yaml"), "--out",
                                 str(tiny_project / "out-not-a-shard")])
    assert plain.exit_code == 0, plain.output
    for said, given in cases.items():
        result = runner.invoke(main, ["merge", *map(str, given), "--out", str(tiny_project / "m")])
        assert result.exit_code == 2 and said in result.stderr, (said, result.output)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tiny_project / "m" / "report.json").exists()


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1-2", ""])
def test_a_bad_shard_is_one_line(tiny_project: Path, bad: str) -> None:
    result = CliRunner().invoke(main, ["build", str(tiny_project / "edgeconv.yaml"), "--shard", bad])
    assert result.exit_code == 2 and "is not I/N" in result.stderr


def test_ci_matrix_deals_every_cell_once(tiny_project: Path) -> None:
    result = CliRunner().invoke(main, ["ci", "matrix", str(tiny_project / "edgeconv.yaml"), "--shards", "2"])
    assert result.exit_code == 0, result.output
    include = json.loads(result.stdout)["include"]
    assert [e["shard"] for e in include] == ["1/2", "2/2"]
    cells = [c for e in include for c in e["cells"]]
    assert sorted(cells) == sorted(f"x86-cpu-ort/{p}" for p in ("fp32", "int8-dynamic", "int8-static"))
    wide = json.loads(CliRunner().invoke(main, ["ci", "matrix", str(tiny_project / "edgeconv.yaml")]).stdout)
    assert len(wide["include"]) == 3  # default: one shard per cell


def test_a_pools_boards_are_cells_of_their_own(tmp_path: Path) -> None:
    from edgeconv.api.shard import Shard, cells, take
    from edgeconv.spec.device import DeviceConfig
    from edgeconv.spec.targets import get_profile

    board = {"user": "ci", "key_file": tmp_path / "key", "known_hosts": tmp_path / "known_hosts"}
    pool = get_profile("x86-cpu-ort").model_copy(update={"name": "pool", "devices": [
        DeviceConfig(name="a", host="10.0.0.1", **board), DeviceConfig(name="b", host="10.0.0.2", **board)]})
    selected = [(pool, ["fp32", "int8-dynamic"]), (get_profile("x86-cpu-ort"), ["fp32"])]
    assert cells(selected) == ["pool/fp32@a", "pool/fp32@b", "pool/int8-dynamic@a", "pool/int8-dynamic@b",
                               "x86-cpu-ort/fp32"]
    one, first = take(selected, Shard(1, 2))
    two, second = take(selected, Shard(2, 2))
    assert first["cells"] == ["pool/fp32@a", "pool/int8-dynamic@a", "x86-cpu-ort/fp32"]
    assert second["cells"] == ["pool/fp32@b", "pool/int8-dynamic@b"]
    assert [(p.name, [d.name for d in p.devices], precisions) for p, precisions in one] == [
        ("pool", ["a"], ["fp32"]), ("pool", ["a"], ["int8-dynamic"]), ("x86-cpu-ort", [], ["fp32"])]
    assert [(p.name, [d.name for d in p.devices], precisions) for p, precisions in two] == [
        ("pool", ["b"], ["fp32"]), ("pool", ["b"], ["int8-dynamic"])]
    # the merge lists a pool's rows as one build does: precision by precision, board by board
    from edgeconv.results import ArtifactResult
    from edgeconv.scale.merge import _order

    rows = [ArtifactResult(t, "onnxruntime", p) for t, p in
            [("x86-cpu-ort", "fp32"), ("pool@b", "int8-dynamic"), ("pool@a", "fp32"), ("pool@b", "fp32")]]
    ordered = sorted(rows, key=lambda r: _order(r, first))
    assert [r.label for r in ordered] == ["pool@a/fp32", "pool@b/fp32", "pool@b/int8-dynamic", "x86-cpu-ort/fp32"]


def test_across_timing_passes_the_choice_ranks_speedups_not_milliseconds() -> None:
    """Shard 2 ran on a busier (or slower) runner: its artifact took more milliseconds but is the faster one
    beside its own pass's reference; merged choices must pick it, for `auto` and for `--device` alike."""
    from edgeconv.choose import choose_for_device, choose_precision
    from edgeconv.results import TimingPass
    from tests.test_device_build import row

    quick_runner = row("x86-cpu-ort", "int8-dynamic", [5.0] * 40, size_mb=23, speedup=10.0 / 5.0)
    quick_runner.timing_pass = TimingPass(shard="1/2", reference_p50_ms=10.0)
    busy_runner = row("x86-cpu-ort", "int8-static", [8.0] * 40, size_mb=23, speedup=20.0 / 8.0)
    busy_runner.timing_pass = TimingPass(shard="2/2", reference_p50_ms=20.0)
    assert choose_precision("x86-cpu-ort", [quick_runner, busy_runner])["precision"] == "int8-static"
    device = choose_for_device("x86-64", [quick_runner, busy_runner])
    assert device["precision"] == "int8-static"
    assert [r["p50_ms"] for r in device["ranking"]] == [8.0, 5.0]  # the report still shows each one's own ms
