"""Latency a user can trust: a figure from the stage cache is reused only on the machine that measured it, the
report says which figures are fresh, and speed-ups come from one interleaved pass, never from a stale figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeconv.api import pipeline as api
from edgeconv.machine import fingerprint
from edgeconv.report.markdown import render_markdown
from edgeconv.spec import load_spec


def _build(project: Path, out: str) -> api.BuildResult:
    spec = load_spec(project / "edgeconv.yaml", ["targets.0.precisions=[fp32, int8-dynamic]"])
    return api.build(spec, out=project / out)


def _timings(result: api.BuildResult) -> dict[str, dict]:
    return {a.label: a.timing.to_dict() for a in [result.reference, *result.artifacts] if a.timing}


def test_cached_latency_is_reused_only_on_the_same_machine(tiny_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _timings(built := _build(tiny_project, "one"))
    assert all(t["fresh"] and t["measured_at"] and t["machine"] == fingerprint() for t in first.values())
    assert "Every latency above was measured in this build." in render_markdown(built)

    again = _build(tiny_project, "two")  # same machine, same inputs: the stage cache gives the figures back
    second = _timings(again)
    assert not any(t["fresh"] for t in second.values())
    assert {k: t["measured_at"] for k, t in second.items()} == {k: t["measured_at"] for k, t in first.items()}
    assert again.reference.worker_latency_ms == built.reference.worker_latency_ms
    assert "Latency reused from the stage cache" in render_markdown(again)

    other = {**fingerprint(), "cpu": "Some Other CPU", "int8_flags": ["avx2", "avx512_vnni"]}
    monkeypatch.setattr("edgeconv.api.measure.fingerprint", lambda: other)
    third = _timings(_build(tiny_project, "three"))  # another machine: every figure is measured again
    assert all(t["fresh"] and t["machine"] == other for t in third.values())


def test_a_stale_cached_timing_does_not_reach_the_speed_ups(tiny_project: Path, stage_cache: Path) -> None:
    """The reference's cached worker timing is made 5x slower, as if measured on a loaded machine: the rebuild
    reuses that stage (its outputs are valid) but its table and speed-ups come from the interleaved pass."""
    first = _build(tiny_project, "one")
    (record,) = stage_cache.glob("stages/verify/reference/*/stage.json")
    stage = json.loads(record.read_text())
    stage["meta"]["timings_s"] = [t * 5 for t in stage["meta"]["timings_s"]]
    record.write_text(json.dumps(stage))

    again = _build(tiny_project, "two")
    stale = again.reference.worker_latency_ms["p50"]
    assert stale > 4 * first.reference.worker_latency_ms["p50"]  # the stale figure was reused ...
    fp32 = next(a for a in again.artifacts if a.precision == "fp32")  # ... but not timed against
    assert fp32.speedup_vs_reference < 2.5 < stale / fp32.worker_latency_ms["p50"]
    assert again.reference.measurement.latency_ms["p50"] < stale / 2
    assert fp32.timing.interleaved["rows"] == 3  # the reference, fp32, int8-dynamic


def test_artifacts_too_large_to_load_together_keep_their_own_figures(tiny_project: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    class Tight:
        available = 1024  # bytes: less than the artifacts

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tight())
    built = _build(tiny_project, "one")
    fp32 = next(a for a in built.artifacts if a.precision == "fp32")
    assert fp32.worker_latency_ms is None and fp32.timing.interleaved.startswith("skipped")


def test_an_artifact_identical_to_the_reference_shares_its_figure_even_alone(tiny_project: Path) -> None:
    """Two worker processes of one file read apart on a shared machine; the same bytes run by the same runtime
    are one measurement: the pass times the reference and the identical row takes its figure, never 'slower'."""
    spec = load_spec(tiny_project / "edgeconv.yaml", ["targets.0.precisions=[fp32]"])
    built = api.build(spec, out=tiny_project / "alone")
    (fp32,) = built.artifacts
    assert fp32.sha256 == built.reference.sha256  # the ORT fp32 artifact of this model is the plain export
    assert fp32.identical_to == "reference/fp32" and fp32.speedup_vs_reference == 1.0
    assert fp32.measurement.latency_ms == built.reference.measurement.latency_ms
    assert fp32.warnings == [] and built.timing is not None and built.timing["timed"] == 1
