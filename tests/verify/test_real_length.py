"""Latency on the inputs users send (issue 32): text examples are timed at their own length where the runtime takes
a dynamic sequence axis, padded where it cannot, the report carries both, and `auto` ranks on `latency.shape`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter

from edgeconv.choose import choose_precision
from edgeconv.data.feeds import FeedSet
from edgeconv.data.trim import real_length, trim
from edgeconv.report.shapes import shapes_markdown
from edgeconv.results import ArtifactResult, Measurement, RunnerRecord
from edgeconv.spec import LatencySpec
from edgeconv.verify.retime import retime
from edgeconv.verify.shapes import STATIC
from tests.verify.length_runner import PADDED

RUNNER = "tests.verify.length_runner:LengthRunner"


def tweets(count: int = 40) -> FeedSet:
    """Right-padded token ids whose own lengths spread from 4 to 40 of 64."""
    lengths = np.linspace(4, 40, count).astype(int)
    mask = (np.arange(PADDED)[None, :] < lengths[:, None]).astype(np.int64)
    return FeedSet({"input_ids": mask * 7, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)})


def test_trim_cuts_every_sequence_input_to_the_mask_length() -> None:
    example = tweets().example(0)
    cut = trim(example)
    assert real_length(example) == 4
    assert {k: v.shape for k, v in cut.items()} == {k: (1, 4) for k in example}
    assert cut["attention_mask"].all()
    full = {"input_ids": np.ones((1, 8), np.int64), "attention_mask": np.ones((1, 8), np.int64)}
    left = {"input_ids": np.ones((1, 8), np.int64), "attention_mask": np.array([[0, 0, 0, 1, 1, 1, 1, 1]])}
    assert trim(full) is full and trim(left) is left  # nothing to cut; left padding is not cut from the right
    assert real_length({"pixel_values": np.zeros((1, 3, 8, 8))}) is None


def row(label: str, runtime: str, per_token_s: float) -> ArtifactResult:
    latency = {"p50": 1.0, "p90": 1.0, "p99": 1.0, "mean": 1.0, "std": 0.0, "runs": 1}
    m = Measurement(0.9, None, {}, 1.0, 0.0, latency, [], 0.0, 0.0, {"runtime": runtime})
    reference = label == "reference"
    return ArtifactResult("reference" if reference else "cpu", runtime, "fp32" if reference else label,
                          path=f"/nowhere/{label}", sha256=label, size_bytes=1, measurement=m,
                          runner=RunnerRecord(runner=RUNNER, kwargs={"runtime": runtime, "per_token_s": per_token_s}))


def build(shape: str) -> list[ArtifactResult]:
    """Dynamic rows twice as fast as the reference at any length; a static-shape row 2.5x as fast padded but
    slower than the reference on these short inputs; an ONNX with a fixed sequence length."""
    rows = [row("reference", "onnxruntime", 1e-4), row("int8-dynamic", "onnxruntime", 0.5e-4),
            row("int8-static", "tflite", 1e-4 / 2.5), row("fp16", "fixed", 0.9e-4)]
    retime(rows, tweets(), LatencySpec(shape=shape))  # type: ignore[arg-type]
    return rows


@pytest.mark.parametrize("shape", ["real", "max"])
def test_report_carries_both_shapes_and_auto_ranks_on_the_chosen_one(shape: str) -> None:
    rows = build(shape)
    shapes = {r.precision: r.timing.shapes for r in rows if r.timing}
    ranked = "real" if shape == "real" else "padded"
    assert all(s is not None and s["ranked_on"] == ranked for s in shapes.values())
    dynamic, static, fixed = shapes["int8-dynamic"], shapes["int8-static"], shapes["fp16"]
    assert dynamic["real"]["p50"] < dynamic["padded"]["p50"]  # short inputs run shorter
    assert "note" not in dynamic and static["note"] == STATIC and fixed["note"] == STATIC
    assert static["real"]["p50"] == pytest.approx(static["padded"]["p50"])  # padded either way
    assert static["real"]["speedup"] < 1 < static["padded"]["speedup"]
    assert rows[1].measurement is not None
    assert rows[1].measurement.latency_ms["p50"] == pytest.approx(dynamic[ranked]["p50"])  # the table's figure
    chosen = choose_precision("cpu", rows[1:])["precision"]
    assert chosen == ("int8-dynamic" if shape == "real" else "int8-static")
    back = TypeAdapter(ArtifactResult).validate_python(rows[2].to_dict())  # report.json keeps both shapes
    assert back.timing is not None and back.timing.shapes == static
    table = "\n".join(shapes_markdown(rows))
    assert f"use **{ranked}**" in table and STATIC in table and "cpu/int8-dynamic" in table


def test_real_pass_feeds_each_example_at_its_own_length(tmp_path: Path) -> None:
    from edgeconv.verify.shapes import Shapes
    from tests.verify.length_runner import LengthRunner

    padded = [tweets().example(i) for i in range(40)]
    runners = {0: LengthRunner("", "onnxruntime", 1e-4), 1: LengthRunner("", "tflite", 1e-4)}
    shapes = Shapes(runners, padded, "real")
    assert [e["input_ids"].shape[1] for e in shapes.timed[0]] == [int(e["attention_mask"].sum()) for e in padded]
    assert {e["input_ids"].shape[1] for e in shapes.timed[1]} == {PADDED}
    assert shapes.other is not None and {e["input_ids"].shape[1] for e in shapes.other[0]} == {PADDED}


def test_a_fixed_length_graph_is_found_when_the_first_example_fills_it() -> None:
    """The probe asks with the shortest example: a first example at the full padded length proves nothing."""
    from edgeconv.verify.shapes import Shapes
    from tests.verify.length_runner import LengthRunner

    class FixedOnnx(LengthRunner):  # an ONNX Runtime session whose graph fixes the sequence at 64
        def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            if feeds["input_ids"].shape[1] != PADDED:
                raise RuntimeError("Got invalid dimensions for input: input_ids index: 1 Expected: 64")
            return super().infer(feeds)

    full = {k: np.ones((1, PADDED), np.int64) for k in ("input_ids", "attention_mask")}
    padded = [full] + [{k: tweets().example(i)[k] for k in full} for i in range(5)]
    runners = {0: FixedOnnx("", "onnxruntime", 1e-4), 1: LengthRunner("", "onnxruntime", 1e-4)}
    shapes = Shapes(runners, padded, "real")
    assert shapes.static == {0} and shapes.timed[1][1]["input_ids"].shape[1] < PADDED


def test_a_bucketed_row_is_timed_in_its_buckets_and_at_its_largest_as_the_worst_case() -> None:
    rows = [row("reference", "onnxruntime", 1e-4), row("int8-dynamic", "tflite", 1e-4)]
    assert rows[1].runner is not None
    rows[1].runner.kwargs["buckets"] = [16, 32, PADDED]
    retime(rows, tweets(), LatencySpec())
    shapes = rows[1].timing.shapes if rows[1].timing else None
    assert shapes is not None and shapes["note"] == f"buckets [16, 32, {PADDED}]"
    assert shapes["real"]["p50"] <= 32 * 1e-4 * 1e3 < shapes["padded"]["p50"] == pytest.approx(PADDED * 1e-4 * 1e3)
