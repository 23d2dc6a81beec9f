"""The typed results: report.json round-trips through them (a real build's, and a row carrying every fact), the
row-label grammar is one parser, and read_report refuses what is not a report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from edgeconv.errors import SpecError
from edgeconv.results import (
    ArtifactResult,
    BackendFacts,
    BudgetCheck,
    BuildResult,
    Measurement,
    PruneFacts,
    RemoteFacts,
    RowLabel,
    RunnerRecord,
    Timing,
    TimingPass,
    candidate_of,
    parse_row,
    pruned_label,
    read_report,
    row_label,
)
from tests.roundtrip import as_written, assert_round_trips


def test_a_real_builds_report_round_trips_and_reads_typed(tiny_project: Path, stage_cache: Path) -> None:
    from edgeconv import api
    from edgeconv.report import write_reports
    from edgeconv.spec import load_spec

    spec = load_spec(tiny_project / "edgeconv.yaml", ["targets.0.precisions=[fp32, int8-dynamic]"])
    out = tiny_project / "out"
    paths = write_reports(api.build(spec, out=out), out)
    text = paths["json"].read_text()
    assert_round_trips(text)
    report = read_report(paths["json"])
    assert report.out_dir == str(out) and as_written(report.to_dict()) == text
    rows = [report.reference, *report.artifacts]
    assert all(isinstance(r.timing, Timing) and r.timing.fresh for r in rows)
    assert all(isinstance(r.runner, RunnerRecord) and "path" not in r.runner.kwargs for r in rows)
    assert report.reference.runner.runner.endswith("OnnxRuntimeRunner")
    assert report.spec_sha256 and report.versions["edgeconv"]
    entry = json.loads(text)["artifacts"][0]
    assert entry["runner"] == report.artifacts[0].runner.to_dict() and "extra" not in entry


def _row() -> ArtifactResult:
    latency = {"p50": 5.0, "p90": 6.0, "p99": 7.0, "mean": 5.2, "std": 0.1, "runs": 10}
    m = Measurement(0.9, 0.8, {"a": {"precision": 1.0, "support": 3}}, 0.99, math.inf, latency, [5.0] * 3, 12.5,
                    0.2, {"runtime": "onnxruntime", "threads": 4})
    row = ArtifactResult(row_label("pool", "pi@10.0.0.2:22"), "tflite", "int8-full", "/x/model.tflite", "ab", 1234,
                         measurement=m, speedup_vs_reference=1.5, speedup_interval=[1.2, math.nan],
                         budgets=[BudgetCheck("min_snr_db[logits]", 20.0, math.inf, True)],
                         built=BackendFacts(input_names=["x"], static_shapes={"x": [1, 8]}, route="litert-torch"),
                         prune=PruneFacts(mode="structured", ratio=0.5, params_before=10, params_after=5,
                                          parity=None, size_bytes=100),
                         timing=Timing(fresh=False, measured_at=None, machine={"device": "pi"}),
                         remote=RemoteFacts(device={"arch": "aarch64"}, tegrastats=None, remote={"run_dir": "/r"}),
                         runner=RunnerRecord(runner="m:R", kwargs={"threads": 4}), worker_latency_ms=latency,
                         warnings=["slower"], selected=True, timing_pass=TimingPass(shard="1/2"))
    row.timing.interleaved = "skipped: too large"  # type: ignore[union-attr]
    return row


def test_every_fact_of_a_row_round_trips_flat_and_in_order() -> None:
    row, error = _row(), ArtifactResult("cpu", "onnxruntime", "fp16", status="error", reason="boom",
                                         remote=RemoteFacts(status="unreachable", reason="no route", stdout="..."))
    result = BuildResult("m", "out", row, [row, error], {}, {"versions": {"edgeconv": "1"}, "spec_sha256": None},
                         {"examples": 3}, shard={"index": 1, "count": 2})
    report = result.to_dict()
    entry = report["artifacts"][0]
    assert list(entry)[-12:] == ["timings_ms", "input_names", "static_shapes", "route", "prune", "timing", "remote",
                                 "runner", "worker_latency_ms", "warnings", "timing_pass", "selected"]
    assert entry["max_abs_error"] is None and entry["speedup_interval"] == [1.2, None]  # strict JSON
    assert entry["prune"] == {"mode": "structured", "ratio": 0.5, "params_before": 10, "params_after": 5,
                              "parity": None, "size_bytes": 100}  # the keys given, null ones too
    assert entry["timing"] == {"fresh": False, "measured_at": None, "machine": {"device": "pi"},
                               "interleaved": "skipped: too large"}
    assert entry["per_class"]["a"]["support"] == 3  # a figure's own type, not coerced
    assert report["artifacts"][1]["remote"] == {"status": "unreachable", "reason": "no route", "stdout": "..."}
    assert "selected" not in report["artifacts"][1] and "warnings" not in report["artifacts"][1]
    assert_round_trips(as_written(report))
    back = BuildResult.from_report(json.loads(as_written(report)))
    assert math.isnan(back.artifacts[0].measurement.max_abs_error)  # type: ignore[union-attr]
    assert back.artifacts[0].selected and back.artifacts[1].measurement is None and back.shard == {"index": 1,
                                                                                                    "count": 2}


def test_an_older_report_without_the_newer_keys_still_reads() -> None:
    entry = {"target": "cpu", "backend": "onnxruntime", "precision": "fp32", "status": "passed",
             "latency_ms": {"p50": 1.0}, "accuracy": 0.5, "per_class": None}
    row = ArtifactResult.__pydantic_validator__.validate_python(entry)  # type: ignore[attr-defined]
    assert row.measurement.per_class == {} and row.measurement.timings_ms == [] and row.runner is None
    assert math.isnan(row.measurement.peak_memory_mb) and row.warnings == [] and not row.selected


def test_the_row_label_grammar_is_one_parser() -> None:
    assert row_label("cpu") == "cpu" and row_label("pool", "b") == "pool@b"
    assert row_label("pool", "pi@h:22", "prune-b2-r0.35") == "pool@pi@h:22@prune-b2-r0.35"
    assert parse_row("pool@pi@h:22@prune-b2-r0.35") == RowLabel("pool", "pi@h:22", "prune-b2-r0.35")
    assert parse_row("cpu@prune-0.5") == RowLabel("cpu", None, "prune-0.5")
    assert str(parse_row("pool@b")) == "pool@b" and pruned_label("pool@b", "prune-r0.5") == "pool@b@prune-r0.5"
    assert candidate_of("cpu", "cpu") and candidate_of("cpu", "cpu@prune-r0.5")
    assert not candidate_of("cpu", "cpu@board") and not candidate_of("cpu", "cpu2@prune-r0.5")
    with pytest.raises(ValueError):
        row_label("cpu", prune="r0.5")


def test_read_report_refuses_what_is_not_a_report(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no report at"):
        read_report(tmp_path / "report.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SpecError, match="not JSON"):
        read_report(bad)
    bad.write_text(json.dumps({"artifacts": [{"target": "cpu"}], "name": "m", "reference": None}))
    with pytest.raises(SpecError, match="not an edgeconv report: "):
        read_report(bad)
