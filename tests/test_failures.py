"""Crash containment: a failure injected into each kind of stage gives one line, exit 4, every report
written and the other artifacts intact, and the traceback in a log file (never on stderr without --debug)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeconv.cli import main
from edgeconv.errors.failures import contain, library_of, node_of, one_line
from edgeconv.results import RunnerSpec

ORT_NODE_ERROR = ("[ONNXRuntimeError] : 1 : FAIL : Load model from m.onnx failed:Node (conv1_quant) Op (QLinearConv) "
                  "[ShapeInferenceError] Incompatible dimensions")
ORT_CHECK_ERROR = ('[ONNXRuntimeError] : 10 : INVALID_GRAPH : This is an invalid model. '
                   'In Node, ("", DequantizeLinear, "", -1) : ("w": tensor(int8),) -> ("w_dq",) , '
                   "Error Unrecognized attribute: axis for operator DequantizeLinear")


def test_node_and_op_are_read_from_onnx_runtime_messages() -> None:
    assert node_of(ORT_NODE_ERROR) == "node 'conv1_quant' (QLinearConv)"
    assert node_of(ORT_CHECK_ERROR) == "op DequantizeLinear"  # an unnamed node: its op
    assert node_of("Unrecognized attribute: axis for operator DequantizeLinear") == "op DequantizeLinear"
    assert node_of("shape mismatch") is None


def test_one_line_joins_and_caps_a_long_message() -> None:
    text = one_line(ValueError("first\n\n  second\n" + "x" * 1000))
    assert "\n" not in text and text.startswith("first second") and len(text) <= 300


def test_library_is_the_innermost_third_party_frame() -> None:
    import onnx

    try:
        onnx.load_model_from_string(b"not a model")
    except Exception as exc:
        assert library_of(exc) in ("onnx", "google")
    try:
        raise KeyError("x")
    except KeyError as exc:
        assert library_of(exc) == "edgeconv"


def test_contain_names_the_stage_and_fix_and_writes_the_log(tmp_path: Path) -> None:
    try:
        raise RuntimeError(ORT_CHECK_ERROR)
    except RuntimeError as exc:
        error = contain("artifacts/x86-cpu-ort-int8-static", exc, tmp_path)
    line = str(error)
    assert line.startswith("artifacts/x86-cpu-ort-int8-static failed in edgeconv: RuntimeError: ")
    assert "[op DequantizeLinear]" in line and "opset 13" in line  # the known cause's fix
    log = tmp_path / "logs" / "artifacts-x86-cpu-ort-int8-static.log"
    assert f"traceback in {log}" in line and "Traceback (most recent call last)" in log.read_text()
    assert error.exit_code == 4


def build(project: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["build", str(project / "edgeconv.yaml"), *extra])
    return result.exit_code, result.stdout, result.stderr


def assert_contained(project: Path, code: int, stderr: str, broken: str) -> dict:
    """Exit 4, no traceback, every report written, ``broken`` an error row naming its log, the others passed."""
    assert code == 4, stderr
    assert "Traceback" not in stderr
    out = project / "out"
    for name in ("report.json", "report.md", "junit.xml", "manifest.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    rows = {a["precision"]: a for a in report["artifacts"]}
    assert set(rows) == {"fp32", "int8-dynamic", "int8-static"}
    assert rows[broken]["status"] == "error"
    assert all(row["status"] == "passed" for p, row in rows.items() if p != broken)
    log = re.search(r"traceback in (\S+\.log)", rows[broken]["reason"])
    assert log and Path(log.group(1)).is_file() and Path(log.group(1)).is_relative_to(out / "logs")
    assert "error" in (out / "junit.xml").read_text() and rows[broken]["reason"] in (out / "report.md").read_text()
    return rows[broken]


def test_a_quantizer_exception_is_one_artifact_error(tiny_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeconv.compress import quantize

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("Unable to find data type for weight_name='w1'")

    monkeypatch.setattr(quantize, "make_int8_static", broken)
    code, _, err = build(tiny_project)
    row = assert_contained(tiny_project, code, err, "int8-static")
    assert row["reason"].startswith("artifacts/x86-cpu-ort-int8-static failed in edgeconv: ValueError: Unable to find")


def test_a_converter_assertion_is_one_artifact_error(tiny_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeconv.compress import quantize

    def broken(*args: object, **kwargs: object) -> None:
        raise AssertionError("converter invariant broken")

    monkeypatch.setattr(quantize, "make_int8_dynamic", broken)
    code, _, err = build(tiny_project)
    row = assert_contained(tiny_project, code, err, "int8-dynamic")
    assert "AssertionError: converter invariant broken" in row["reason"]


@pytest.mark.parametrize(("fault", "expected"), [
    ("kill", "killed by SIGKILL (most often the out-of-memory killer"),
    ("raise", "kernel refused"),
    ("nan", "NaN or infinite values in output 'logits'"),
])
def test_a_failing_verify_worker_is_one_artifact_error(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch, fault: str, expected: str,
) -> None:
    from edgeconv.backends.onnxruntime.backend import OnnxRuntimeBackend

    real = OnnxRuntimeBackend.runner_spec

    def runner_spec(self: OnnxRuntimeBackend, artifact: object, profile: object) -> RunnerSpec:
        spec = real(self, artifact, profile)  # type: ignore[arg-type]
        if "int8-static" in str(spec.kwargs["path"]):
            return RunnerSpec("tests.verify.fault_runner:FaultRunner", {**spec.kwargs, "fault": fault})
        return spec

    monkeypatch.setattr(OnnxRuntimeBackend, "runner_spec", runner_spec)
    code, _, err = build(tiny_project)
    row = assert_contained(tiny_project, code, err, "int8-static")
    assert expected in row["reason"]
    if fault == "raise":  # the worker's own traceback is kept in the log
        log = re.search(r"traceback in (\S+\.log)", row["reason"]).group(1)  # type: ignore[union-attr]
        assert "kernel refused" in Path(log).read_text() and "fault_runner.py" in Path(log).read_text()


def test_an_export_failure_before_any_artifact_is_exit_4_and_one_line(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edgeconv.export import onnx_import

    def broken(*args: object) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(onnx_import, "import_onnx", broken)
    code, _, err = build(tiny_project)
    assert code == 4 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "export failed in edgeconv: OSError: disk vanished" in err
    assert (tiny_project / "out" / "logs" / "export.log").is_file()
    assert not (tiny_project / "out" / "report.json").exists()


def test_a_crash_outside_any_stage_is_exit_4_with_a_log_and_debug_shows_it(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import edgeconv.api.pipeline

    def broken(spec: object) -> None:
        raise KeyError("input_ids")

    monkeypatch.setattr(edgeconv.api.pipeline, "prepare", broken)
    code, _, err = build(tiny_project)
    assert code == 4 and "Traceback" not in err
    assert "edgeconv build failed in edgeconv: KeyError: 'input_ids'" in err
    assert (tiny_project / "out" / "logs" / "edgeconv-build.log").is_file()
    result = CliRunner().invoke(main, ["--debug", "build", str(tiny_project / "edgeconv.yaml")])
    assert isinstance(result.exception, KeyError)
