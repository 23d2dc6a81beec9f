"""Latency between two builds without the machine's drift: when both builds timed the same fp32 reference file,
a rebuild whose every raw time is twice as high (a busier machine minutes later) is no regression, because each
artifact is compared by its speed-up over its own reference; a changed model (another reference file) with the
same times is compared by its raw timings, and regresses."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from edgeconv.cli import main
from edgeconv.compare import compare_paths
from edgeconv.compare.change import NOT_COMPARED, OK, REGRESSION
from tests.compare.helpers import metric


def slower(report: dict, factor: float) -> dict:
    """Every row's raw times and p50 scaled by ``factor``; speed-ups (one pass, same machine) unchanged."""
    for row in [report["reference"], *report["artifacts"]]:
        row["timings_ms"] = [t * factor for t in row["timings_ms"]]
        row["latency_ms"] = {k: (v * factor if k != "runs" else v) for k, v in row["latency_ms"].items()}
    return report


def test_drift_between_builds_is_not_a_regression_but_a_changed_model_is(tiny_project: Path) -> None:
    result = CliRunner().invoke(main, ["build", str(tiny_project / "edgeconv.yaml"),
                                       "--set", "targets.0.precisions=[fp32, int8-dynamic]"])
    assert result.exit_code == 0, result.output
    report = json.loads((tiny_project / "out" / "report.json").read_text())
    report["timing"]["loaded"] = False  # a quiet pass each time: the drift is between the builds
    base, drift, changed = (tiny_project / f"{n}.json" for n in ("base", "drift", "changed"))
    base.write_text(json.dumps(report))
    drift.write_text(json.dumps(slower(json.loads(json.dumps(report)), 2.0)))
    other = slower(json.loads(json.dumps(report)), 2.0)
    other["reference"]["sha256"] = "another model"
    changed.write_text(json.dumps(other))
    label = next(a for a in report["artifacts"] if a["precision"] == "int8-dynamic")
    label = f"{label['target']}/int8-dynamic"

    calm = compare_paths(base, drift)
    assert not calm.regressed
    assert metric(calm, label, "latency_p50").status == OK
    assert "relative to each build's fp32 reference" in metric(calm, label, "latency_p50").method
    reference = metric(calm, "reference/fp32", "latency_p50")
    assert reference.status == NOT_COMPARED and "drift" in reference.note

    moved = compare_paths(base, changed)
    assert metric(moved, label, "latency_p50").status == REGRESSION  # twice as slow by its raw timings
