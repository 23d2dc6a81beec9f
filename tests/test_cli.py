"""The CLI's contract: exit codes, one-line errors without tracebacks, nothing left behind on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeconv.cli import main
from tests.conftest import SAMPLE_SPEC, write_spec


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_clean_failure(project: Path, code: int, stderr: str, *needles: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in stderr
    assert not (project / "out").exists(), "bad input must leave no report or artifact behind"


def test_build_tiny_project_passes_and_writes_every_report(tiny_project: Path) -> None:
    code, out, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert code == 0, out + err
    report = json.loads((tiny_project / "out" / "report.json").read_text())
    assert {a["precision"] for a in report["artifacts"]} == {"fp32", "int8-dynamic", "int8-static"}
    assert report["passed"] is True
    for name in ("report.md", "junit.xml", "manifest.json"):
        assert (tiny_project / "out" / name).is_file()
    assert "x86-cpu-ort" in out


def test_rerun_reuses_finished_stages(tiny_project: Path) -> None:
    assert run("build", str(tiny_project / "edgeconv.yaml"))[0] == 0
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert code == 0
    assert "reused" in err and "verify/x86-cpu-ort-int8-static" in err


def test_unmeetable_budget_exits_1_and_report_names_it(tiny_project: Path) -> None:
    code, _, _ = run("build", str(tiny_project / "edgeconv.yaml"), "--set", "budgets.p90_latency_ms=0.0001")
    assert code == 1
    markdown = (tiny_project / "out" / "report.md").read_text()
    assert "## Failed budgets" in markdown
    assert "p90_latency_ms" in markdown and "over the limit" in markdown
    junit = (tiny_project / "out" / "junit.xml").read_text()
    assert 'failures="3"' in junit


def test_missing_model_path(tiny_project: Path) -> None:
    write_spec(tiny_project, model={"path": "nowhere.onnx"})
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert_clean_failure(tiny_project, code, err, "nowhere.onnx", "does not exist")


def test_unknown_spec_key_names_the_closest(tiny_project: Path) -> None:
    write_spec(tiny_project, budgets={"acuracy_drop": 0.01})
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert_clean_failure(tiny_project, code, err, "budgets.acuracy_drop", "did you mean 'accuracy_drop'")


def test_calibration_file_of_the_wrong_format(tmp_path: Path) -> None:
    bad = tmp_path / "calib.jsonl"
    bad.write_text('{"text": "fine", "label": "positive"}\ntext,label\n')
    out = tmp_path / "out"
    code, _, err = run("build", str(SAMPLE_SPEC), "--out", str(out), "--set", f"calibration.path={bad}")
    assert_clean_failure(tmp_path, code, err, "calib.jsonl", "line 2 is not JSON")


def test_calibration_set_with_the_wrong_text_field(tmp_path: Path) -> None:
    bad = tmp_path / "calib.jsonl"
    bad.write_text('{"tweet": "no text field here"}\n')
    code, _, err = run("build", str(SAMPLE_SPEC), "--out", str(tmp_path / "out"), "--set", f"calibration.path={bad}")
    assert_clean_failure(tmp_path, code, err, "no field 'text'", "tweet")


def test_text_data_for_a_model_without_tokenizer(tiny_project: Path) -> None:
    (tiny_project / "calib.jsonl").write_text('{"text": "hello"}\n')
    write_spec(tiny_project, calibration={"path": "calib.jsonl"})
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert_clean_failure(tiny_project, code, err, "calib.jsonl", "no tokenizer")


def test_calibration_npz_that_is_not_npz(tiny_project: Path) -> None:
    (tiny_project / "calib.npz").write_bytes(b"plain text, not a numpy archive")
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert_clean_failure(tiny_project, code, err, "calib.npz", "not a readable .npz")


def test_empty_calibration_set(tiny_project: Path) -> None:
    np.savez(tiny_project / "calib.npz", x=np.zeros((0, 8), dtype=np.float32))
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert_clean_failure(tiny_project, code, err, "calibration set", "empty")


def test_calibration_feeds_that_do_not_match_the_model_inputs(tiny_project: Path) -> None:
    np.savez(tiny_project / "calib.npz", input_ids=np.zeros((4, 8), dtype=np.float32))
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert_clean_failure(tiny_project, code, err, "input_ids", "missing ['x']")


def test_bad_override_syntax(tiny_project: Path) -> None:
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"), "--set", "budgets")
    assert_clean_failure(tiny_project, code, err, "key.path=value")


def test_unknown_target(tiny_project: Path) -> None:
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"), "--target", "x86-cpu-rt")
    assert_clean_failure(tiny_project, code, err, "did you mean 'x86-cpu-ort'")


def test_debug_shows_the_traceback(tiny_project: Path) -> None:
    write_spec(tiny_project, model={"path": "nowhere.onnx"})
    result = CliRunner().invoke(main, ["--debug", "build", str(tiny_project / "edgeconv.yaml")])
    assert result.exit_code != 0 and result.exception is not None


def test_targets_lists_the_cpu_profile_as_available() -> None:
    code, out, _ = run("targets", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["x86-cpu-ort"]["available"] is True
    assert rows["x86-cpu-ort"]["device_class"] == rows["x86-cpu-tflite"]["device_class"] == "x86-64"  # --device
    for llm in ("x86-cpu-ort-genai", "x86-cpu-openvino-genai"):  # decoder LMs: the same class, their own packages
        assert rows[llm]["generative"] and rows[llm]["device_class"] == "x86-64"
        assert rows[llm]["available"] or "pip install 'edgeconv[llm]'" in rows[llm]["reason"]


def test_doctor_reports_onnxruntime(route_environments: Path) -> None:
    code, out, _ = run("doctor", "--json")
    assert code == 0
    report = json.loads(out)
    assert "CPUExecutionProvider" in report["runtimes"]["onnxruntime providers"]
    from edgeconv.machine import native_precisions

    for precision, how in native_precisions().items():  # which precisions this CPU executes, which it widens
        if precision != "fp32":
            assert report["machine"][f"{precision} arithmetic"] == how
    route = report["onnx -> tflite route"]  # the route folder of this test session (conftest)
    assert route["onnx2torch"].startswith("onnx2torch==") and isinstance(route["ready"], bool)
    assert route["ready"] or "installed on the first ONNX -> TFLite build" in route["note"]
    optimum = report["openvino-genai export environment (optimum-intel)"]  # also under the session's routes folder
    assert "optimum-intel==" in optimum["packages"] and optimum["where"].startswith(str(route_environments))
    assert optimum["ready"] or "made on the first OpenVINO GenAI build" in optimum["note"]
    assert "openvino-genai" in report["packages"] and "onnxruntime-genai" in report["packages"]


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and "edgeconv" in out


@pytest.mark.parametrize("command", ["build", "export", "targets", "doctor", "verify"])
def test_every_command_has_help(command: str) -> None:
    assert run(command, "--help")[0] == 0


def test_precision_auto_picks_the_fastest_passing_artifact(tiny_project: Path) -> None:
    code, out, _ = run("build", str(tiny_project / "edgeconv.yaml"), "--set", "targets.0.precisions=[auto]")
    assert code == 0
    report = json.loads((tiny_project / "out" / "report.json").read_text())
    assert {a["precision"] for a in report["artifacts"]} == {"fp32", "fp16", "int8-dynamic", "int8-static"}
    (choice,) = report["selections"]
    # a loaded pass (the load average lags a test run before) widens "the same" by its A/A control's floor
    floor = ((report["timing"] or {}).get("control") or {}).get("floor", 1.0)
    passing = [a for a in report["artifacts"] if a["status"] == "passed"  # never clearly slower than the reference
               and (a["precision"] == "fp32" or a["speedup_interval"][1] * floor >= 1.0)]
    fastest = max(passing, key=lambda a: a["speedup_vs_reference"])
    ties = [a for a in passing  # overlapping intervals
            if a["speedup_interval"][1] * floor >= fastest["speedup_interval"][0]]
    chosen = next(a for a in ties if a["precision"] == choice["precision"])  # the fastest, or one it ties with ...
    assert chosen["size_bytes"] == min(a["size_bytes"] for a in ties) and chosen.get("selected") is True  # the smallest
    assert "fastest that met every budget" in choice["reason"] and "auto" in out


def test_calibration_preprocessed_unlike_evaluation_is_refused(tmp_path: Path) -> None:
    code, _, err = run("build", str(SAMPLE_SPEC), "--out", str(tmp_path / "out"),
                       "--set", "calibration.text={max_length: 128}")
    assert_clean_failure(tmp_path, code, err, "preprocessed differently", "max_length is 128 for calibration",
                         "64 for evaluation")


def test_a_new_out_folder_is_served_from_the_cache_and_cache_ls_clear(tiny_project: Path) -> None:
    assert run("build", str(tiny_project / "edgeconv.yaml"))[0] == 0
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"), "--out", str(tiny_project / "elsewhere"))
    assert code == 0 and "✓" not in err  # every stage reused, none re-run
    first = json.loads((tiny_project / "out" / "report.json").read_text())
    second = json.loads((tiny_project / "elsewhere" / "report.json").read_text())
    assert [a["sha256"] for a in first["artifacts"]] == [a["sha256"] for a in second["artifacts"]]
    code, out, _ = run("cache", "ls", "--json")
    stages = {row["stage"] for row in json.loads(out)}
    assert {"data", "export", "verify/reference", "artifacts/x86-cpu-ort-int8-static"} <= stages
    assert run("cache", "clear")[0] == 0
    assert json.loads(run("cache", "ls", "--json")[1]) == []
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert code == 0 and "✓ export" in err


def test_changed_calibration_reruns_only_what_depends_on_it(tiny_project: Path) -> None:
    assert run("build", str(tiny_project / "edgeconv.yaml"))[0] == 0
    np.savez(tiny_project / "calib.npz", x=np.random.default_rng(9).normal(size=(40, 8)).astype(np.float32))
    code, _, err = run("build", str(tiny_project / "edgeconv.yaml"))
    assert code == 0
    rerun = {line.split()[1] for line in err.splitlines() if line.startswith("✓")}
    assert rerun == {"data", "artifacts/x86-cpu-ort-int8-static", "verify/x86-cpu-ort-int8-static"}


def test_build_against_a_baseline_passes_on_rebuild_and_fails_on_a_regression(tiny_project: Path) -> None:
    assert run("build", str(tiny_project / "edgeconv.yaml"))[0] == 0
    baseline = tiny_project / "baseline.json"
    baseline.write_text((tiny_project / "out" / "report.json").read_text())
    code, out, _ = run("build", str(tiny_project / "edgeconv.yaml"), "--baseline", str(baseline))
    assert code == 0 and "no regression" in out
    better = json.loads(baseline.read_text())
    for artifact in better["artifacts"]:
        artifact["accuracy"] = 1.0  # a baseline this build falls far short of
    baseline.write_text(json.dumps(better))
    code, out, _ = run("build", str(tiny_project / "edgeconv.yaml"), "--baseline", str(baseline),
                       "--set", "budgets.accuracy_drop=0.01")
    assert code == 1 and "regression" in out and "accuracy" in out
    assert "accuracy" in (tiny_project / "out" / "compare.md").read_text()


def test_build_json_stdout_is_only_json_even_when_a_library_prints(tiny_project: Path) -> None:
    """ONNX Runtime's percentile calibrator print()s its progress; --json must stay parseable."""
    code, out, err = run("build", str(tiny_project / "edgeconv.yaml"), "--json",
                         "--set", "quantize.static.method=percentile", "--set", "targets.0.precisions=[int8-static]")
    assert code == 0, err
    assert json.loads(out)["artifacts"][0]["quantization"]["method"] == "percentile"
    assert "Finding optimal threshold" in err  # the library's lines went to stderr


def test_targets_and_doctor_print_extras_in_brackets_as_text() -> None:
    """rich read "[tflite]" in "pip install 'edgeconv[tflite]'" as markup and dropped it."""
    from unittest import mock

    from edgeconv import doctor

    row = {"name": "arm64-tflite", "backend": "tflite", "precisions": ["fp32"], "requires": ["litert"],
           "available": False, "reason": "litert_torch not installed (pip install 'edgeconv[tflite]')"}
    with mock.patch.object(doctor, "target_rows", return_value=[row]):
        code, out, _ = run("targets")
    assert code == 0 and "edgeconv[tflite]" in out.replace("\n", "").replace(" ", "")
    with mock.patch.object(doctor, "diagnose", return_value={"tflite": {"install": "pip install 'edgeconv[tflite]'"}}):
        code, out, _ = run("doctor")
    assert code == 0 and "pip install 'edgeconv[tflite]'" in out
