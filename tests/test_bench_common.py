"""bench/common.py's helpers that decide what a benchmark row is fed and how two rows are compared: a peer on a
dynamic-shape runtime must be timed at the examples' own length, a static-shape one padded, and the ratio of two
rows must come from paired rounds."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SPEC = importlib.util.spec_from_file_location("bench_common", BENCH / "common.py")
assert SPEC is not None and SPEC.loader is not None
common = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(common)


class FakeRunner:
    """A runner of ``name`` that refuses any input not ``fixed`` tokens long when ``fixed`` is set."""

    def __init__(self, name: str, fixed: int | None = None) -> None:
        self.name, self.fixed = name, fixed

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.fixed is not None and feeds["input_ids"].shape[1] != self.fixed:
            raise ValueError(f"Got invalid dimensions: expected {self.fixed}")
        return {"logits": np.zeros((1, 2), np.float32)}


def padded(lengths: list[int], width: int = 8) -> list[dict[str, np.ndarray]]:
    out = []
    for n in lengths:
        mask = np.zeros((1, width), np.int64)
        mask[0, :n] = 1
        out.append({"input_ids": mask * 7, "attention_mask": mask})
    return out


def test_a_dynamic_runtime_gets_every_example_at_its_own_length() -> None:
    shape, examples = common.shaped_inputs(FakeRunner("onnxruntime"), padded([3, 8, 5]))
    assert shape == "real"
    assert [e["input_ids"].shape[1] for e in examples] == [3, 8, 5]


@pytest.mark.parametrize("runner", [FakeRunner("tflite"), FakeRunner("onnxruntime", fixed=8)])
def test_a_static_shape_runtime_is_fed_padded(runner: Any) -> None:
    """LiteRT by name; an ONNX whose sequence axis is fixed because the shortest example is refused (the first
    example here is full length, so asking with it would have let the fixed axis through)."""
    examples = padded([8, 3, 5])
    shape, fed = common.shaped_inputs(runner, examples)
    assert shape == "padded" and fed is examples


def test_a_bucketed_runner_is_fed_padded_and_picks_its_bucket() -> None:
    runner = FakeRunner("tflite")
    runner.buckets = [4, 8]  # type: ignore[attr-defined]
    examples = padded([3, 8])
    assert common.shaped_inputs(runner, examples) == ("buckets", examples)


def test_an_override_and_unpadded_examples() -> None:
    assert common.shaped_inputs(FakeRunner("torch"), padded([2, 4]), dynamic=True)[0] == "real"
    full = padded([8, 8])
    assert common.shaped_inputs(FakeRunner("onnxruntime"), full) == ("padded", full)


def test_paired_ratio_compares_round_by_round() -> None:
    """A burst that doubles one round of both rows leaves the paired ratio alone."""
    base = [[1.0, 1.0], [2.0, 2.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    own = [[0.5 * t for t in r] for r in base]
    median, low, high = common.paired_ratio(own, base)
    assert median == pytest.approx(0.5) and low == pytest.approx(0.5) and high == pytest.approx(0.5)
    slower = [[t * (1.2 if i % 2 else 0.8) for t in r] for i, r in enumerate(base)]
    median, low, high = common.paired_ratio(slower, base)
    assert (median, low, high) == pytest.approx((1.0, 0.8, 1.2))  # alternating rounds: the interval shows it
