"""Spec validation: unknown keys with the closest name, relative paths, overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgeconv.errors import SpecError
from edgeconv.spec import load_spec
from tests.conftest import make_tiny_onnx


def write(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "edgeconv.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


BASE = {"model": {"path": "m.onnx"}, "evaluation": {"path": "data/eval.jsonl"}}


def test_paths_resolve_relative_to_the_spec_file(tmp_path: Path) -> None:
    make_tiny_onnx(tmp_path / "m.onnx")
    spec = load_spec(write(tmp_path, BASE))
    assert spec.model.path == str(tmp_path / "m.onnx")
    assert spec.model.source == "onnx"
    assert spec.evaluation.path == tmp_path / "data" / "eval.jsonl"
    assert spec.evaluation.format == "jsonl"
    assert spec.output == tmp_path / "out"


def test_hub_ids_and_package_paths_are_left_as_they_are(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, {**BASE, "model": {"path": "org/name"}}))
    assert spec.model.path == "org/name" and spec.model.source == "hf"
    spec = load_spec(write(tmp_path, {**BASE, "model": {"path": "pkg://some_pkg/model"}}))
    assert spec.model.path == "pkg://some_pkg/model"


@pytest.mark.parametrize(("raw", "needles"), [
    ({**BASE, "budgets": {"acuracy_drop": 0.01}}, ["budgets.acuracy_drop", "did you mean 'accuracy_drop'"]),
    ({**BASE, "modle": {}}, ["unknown key 'modle'", "did you mean 'model'"]),
    ({"model": {"path": "m.onnx"}}, ["'evaluation' is required"]),
    ({**BASE, "targets": [{"name": "x", "precisions": ["int3"]}]}, ["targets.0.precisions.0", "'int3'", "fp32"]),
    ({**BASE, "targets": [{"name": "x", "precisions": ["int8-static"]}]}, ["int8-static needs a calibration set"]),
    ({**BASE, "evaluation": {"path": "e.txt"}}, ["cannot tell the format", "format: jsonl, csv, npz, npy or images"]),
    ({**BASE, "budgets": {"accuracy_drop": 2}}, ["budgets.accuracy_drop", "less than or equal to 1"]),
    ({**BASE, "model": {"path": "m.pt2"}}, ["model.inputs"]),
    ({**BASE, "budgets": {"min_cosine": {"mean": 0.95, "wrost": 0.9}}}, ["budgets.min_cosine", "unknown key 'wrost'"]),
    ({**BASE, "budgets": {"min_cosine": {}}}, ["budgets.min_cosine", "give mean, worst or both"]),
    ({**BASE, "budgets": {"outputs": {"y": {"min_cosine": {"worst": 1.5}}}}},
     ["budgets.outputs.y.min_cosine", "between -1 and 1"]),
    ({**BASE, "budgets": {"min_snr_db": "high"}}, ["budgets.min_snr_db", "neither a number nor {mean"]),
])
def test_errors_name_the_field_and_the_fix(tmp_path: Path, raw: dict, needles: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, raw))
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "targets": ["x86-cpu-ort"]})
    spec = load_spec(path, ["budgets.accuracy_drop=0.005", "targets.0.precisions=[fp32]", "export.opset=18"])
    assert spec.budgets.accuracy_drop == 0.005
    assert spec.targets[0].precisions == ["fp32"]
    assert spec.export.opset == 18
    with pytest.raises(SpecError, match="did you mean 'opset'"):
        load_spec(path, ["export.opst=18"])
    with pytest.raises(SpecError, match="greater than or equal to 13"):
        load_spec(path, ["export.opset=9"])
    with pytest.raises(SpecError, match="indexes a list"):
        load_spec(path, ["targets.first.precisions=[fp32]"])


def test_missing_spec_file_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_a_fidelity_budget_holds_the_mean_or_the_mean_and_the_worst_example(tmp_path: Path) -> None:
    from edgeconv.spec.budgets import mean_and_worst

    path = write(tmp_path, {**BASE, "budgets": {"min_cosine": 0.95, "min_snr_db": "20",
                                                "outputs": {"y": {"min_snr_db": {"worst": 12}}}}})
    budgets = load_spec(path).budgets
    assert mean_and_worst(budgets.min_cosine) == (0.95, None)  # a plain number: the mean, as before
    assert mean_and_worst(budgets.for_output("x").min_snr_db) == (20.0, None)
    assert mean_and_worst(budgets.for_output("y").min_snr_db) == (None, 12.0)  # the output's own wins
    spec = load_spec(path, ["budgets.min_cosine={mean: 0.95, worst: 0.9}"])
    assert mean_and_worst(spec.budgets.for_output("x").min_cosine) == (0.95, 0.9)
