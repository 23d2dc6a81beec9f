"""A latency figure from the stage cache is reused only on the machine that measured it, and the report says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconv import api
from edgeconv.machine import fingerprint
from edgeconv.report.markdown import render_markdown
from edgeconv.spec import load_spec


def _build(project: Path, out: str) -> api.BuildResult:
    spec = load_spec(project / "edgeconv.yaml", ["targets.0.precisions=[fp32, int8-dynamic]"])
    return api.build(spec, out=project / out)


def _timings(result: api.BuildResult) -> dict[str, dict]:
    return {a.label: a.extra["timing"] for a in [result.reference, *result.artifacts]}


def test_cached_latency_is_reused_only_on_the_same_machine(tiny_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _timings(built := _build(tiny_project, "one"))
    assert all(t["fresh"] and t["measured_at"] and t["machine"] == fingerprint() for t in first.values())
    assert "Every latency above was measured in this build." in render_markdown(built)

    again = _build(tiny_project, "two")  # same machine, same inputs: the stage cache gives the figures back
    second = _timings(again)
    assert not any(t["fresh"] for t in second.values())
    assert {k: t["measured_at"] for k, t in second.items()} == {k: t["measured_at"] for k, t in first.items()}
    assert again.reference.measurement.latency_ms == built.reference.measurement.latency_ms
    assert "Latency reused from the stage cache" in render_markdown(again)

    other = {**fingerprint(), "cpu": "Some Other CPU", "int8_flags": ["avx2", "avx512_vnni"]}
    monkeypatch.setattr("edgeconv.verify.artifact.fingerprint", lambda: other)
    third = _timings(_build(tiny_project, "three"))  # another machine: every figure is measured again
    assert all(t["fresh"] and t["machine"] == other for t in third.values())
