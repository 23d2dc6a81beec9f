"""Static int8 remedies on a tiny real ONNX model: the error is localised, each remedy changes the artifact
the way it says, and the search stops at the cheapest remedy that meets the budgets, recording each step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeconv.compress import quantize
from edgeconv.compress.qdq_error import localise
from edgeconv.compress.remedies import static_ladder
from edgeconv.compress.search import Rung, search_int8
from edgeconv.compress.smoothquant import smooth
from edgeconv.data.feeds import FeedSet
from edgeconv.spec import FallbackSpec, QuantizeSpec, StaticQuantSpec
from tests.conftest import make_tiny_onnx, tiny_logits

OUTLIER = 5  # the hidden channel made 300x larger than the others


@pytest.fixture(scope="module")
def outlier_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FeedSet]:
    """fc1's output channel 5 is ~300x the others (weights and bias scaled): a LayerNorm-style outlier."""
    folder = tmp_path_factory.mktemp("outlier")
    path = folder / "tiny.onnx"
    make_tiny_onnx(path, seed=3)
    model = onnx.load(str(path))
    weights = {i.name: i for i in model.graph.initializer}
    for name in ("w1", "b1"):
        array = numpy_helper.to_array(weights[name]).copy()
        array[..., OUTLIER] = np.abs(array[..., OUTLIER]) * 300 + 300
        weights[name].CopyFrom(numpy_helper.from_array(array, name))
    onnx.save(model, str(path))
    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    return path, FeedSet({"x": x})


def test_localisation_names_the_tensor_and_channel_that_lose_the_most(outlier_model: tuple[Path, FeedSet],
                                                                      tmp_path: Path) -> None:
    graph, feeds = outlier_model
    quantize.make_int8_static(graph, tmp_path / "q.onnx", feeds, StaticQuantSpec())
    diagnosis = localise(graph, tmp_path / "q.onnx", feeds.head(16))
    worst = diagnosis.activations[0]
    assert worst.name in ("h0", "h2")  # fc1's output (before/after its bias and Relu): where channel 5 lives
    assert worst.outlier_channels == [OUTLIER] and worst.channel_ratio > 50
    assert worst.channel_sqnr_db < worst.local_sqnr_db - 10  # the whole tensor's SQNR hides the damage
    assert diagnosis.activations[-1].channel_sqnr_db > worst.channel_sqnr_db + 10  # the input x quantizes well
    assert {w["name"] for w in diagnosis.weights} == {"w1", "w2"}
    assert "outliers" in diagnosis.summary() and worst.name in diagnosis.summary()
    readers = {n.name for n in onnx.load(str(graph)).graph.node if worst.name in n.input}
    assert worst.consumers and set(worst.consumers) == readers  # the fallback's units that read it


def test_the_fallback_restores_first_the_nodes_that_read_the_worst_activations() -> None:
    from edgeconv.compress.search import diagnosed_first

    diagnosis = {"activations": [{"channel_sqnr_db": 1.3, "consumers": ["conv28"]},
                                 {"channel_sqnr_db": 1.8, "consumers": ["Concat.0", "conv22"]},  # Concat: no unit
                                 {"channel_sqnr_db": 25.0, "consumers": ["conv40"]}]}  # quantizes well: as ranked
    assert diagnosed_first(["conv40", "conv55", "conv22", "conv28"], diagnosis) == ["conv28", "conv22"]
    assert diagnosed_first(["conv40"], None) == []


def test_smoothquant_keeps_the_float_function_and_cuts_the_int8_error(outlier_model: tuple[Path, FeedSet],
                                                                      tmp_path: Path) -> None:
    graph, feeds = outlier_model
    assert smooth(graph, tmp_path / "smooth.onnx", feeds, alpha=0.5) == ["x", "h2"]  # the graph input too
    x = feeds.inputs["x"]
    reference = tiny_logits(graph, x)
    np.testing.assert_allclose(tiny_logits(tmp_path / "smooth.onnx", x), reference, rtol=1e-4, atol=1e-3)
    errors = {}
    for name, alpha in (("plain", None), ("smoothquant", 0.5)):
        # outputs float: the test isolates fc2's input, the activation SmoothQuant changes
        settings = StaticQuantSpec(smoothquant=alpha, quantize_outputs=False)
        quantize.make_int8_static(graph, tmp_path / f"{name}.onnx", feeds, settings)
        errors[name] = np.abs(tiny_logits(tmp_path / f"{name}.onnx", x) - reference).mean()
    assert errors["smoothquant"] < errors["plain"] / 2


def _q_inputs(path: Path) -> dict[str, Any]:
    """Each QuantizeLinear's input tensor -> its zero-point initializer's array."""
    model = onnx.load(str(path))
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.input[0]: values.get(n.input[2]) for n in model.graph.node if n.op_type == "QuantizeLinear"}


def test_each_remedy_changes_the_artifact_as_it_says(outlier_model: tuple[Path, FeedSet], tmp_path: Path) -> None:
    graph, feeds = outlier_model
    plain = _q_inputs(_made(graph, feeds, tmp_path, "plain"))
    assert {"x", "h0", "h2"} <= set(plain) and any(t.startswith("logits") for t in plain)  # outputs requantized

    float_outputs = _q_inputs(_made(graph, feeds, tmp_path, "outputs", quantize_outputs=False))
    assert "h0" not in float_outputs and not any(t.startswith("logits") for t in float_outputs)
    assert {"x", "h2"} <= set(float_outputs)

    percentile = quantize.make_int8_static(graph, tmp_path / "p.onnx", feeds,
                                           StaticQuantSpec(method="percentile", percentile=99.99))
    assert (percentile.method, percentile.percentile) == ("percentile", 99.99)

    sixteen = _q_inputs(_made(graph, feeds, tmp_path, "int16", activation_16bit=["h2"]))
    assert sixteen["h2"].dtype == np.uint16 and sixteen["x"].dtype == np.uint8

    symmetric = _q_inputs(_made(graph, feeds, tmp_path, "sym", activation_type="int8"))
    assert all(z.dtype == np.int8 and not z.any() for z in symmetric.values())

    seven = onnx.load(str(_made(graph, feeds, tmp_path, "seven", reduce_range=True)))
    weights = {i.name: numpy_helper.to_array(i) for i in seven.graph.initializer
               if i.data_type == onnx.TensorProto.INT8}
    assert weights and max(int(np.abs(w.astype(int)).max()) for w in weights.values()) == 64  # 8-bit: 127


def _made(graph: Path, feeds: FeedSet, folder: Path, name: str, **settings: Any) -> Path:
    path = folder / f"{name}.onnx"
    quantize.make_int8_static(graph, path, feeds, StaticQuantSpec(**settings))
    return path


def test_the_ladder_leaves_out_what_does_not_apply_and_says_why(outlier_model: tuple[Path, FeedSet]) -> None:
    graph, _ = outlier_model
    rungs, skipped = static_ladder(graph, QuantizeSpec(), seven_bit_helps=False)
    assert [r.name for r in rungs] == ["float-outputs", "percentile", "entropy", "smoothquant"]
    why = {s["remedy"]: s["why"] for s in skipped}
    assert "no 16-bit integer kernels" in why["int16-activations"] and "slower than fp32" in why["symmetric"]
    assert "do not saturate" in why["reduce-range"] and "convolutional" in why["weighted-ops"]
    asked = QuantizeSpec.model_validate({"fallback": {"remedies": ["int16-activations", "reduce-range"]}})
    rungs, skipped = static_ladder(graph, asked, seven_bit_helps=True,
                                   diagnosis={"activations": [{"name": "h2"}, {"name": "h0"}]})
    assert [(r.name, r.change) for r in rungs] == [("int16-activations", {"activation_16bit": ["h2", "h0"]}),
                                                   ("reduce-range", {"reduce_range": True})]
    assert skipped == []


@dataclass
class FakeJudge:
    """Scores a candidate by the settings it was made with (written into the file), like a real judge would."""

    scores: dict[str, tuple[float, float]]  # remedy set "a+b" -> (metric, p50 ms)
    reference_p50_ms: float | None = 10.0
    budget: float = 0.9

    def __call__(self, model: Path) -> tuple[float, float, float, dict]:
        metric, p50 = self.scores[model.read_text()]
        return metric, 1.0, p50, {}

    def passes(self, score: float, agreement: float, outputs: Any = None) -> bool:
        return score >= self.budget


def _search(tmp_path: Path, judge: FakeJudge, rungs: list[Rung], ranked: list[str] | None = None,
            max_trials: int = 10) -> dict[str, Any]:
    def make(path: Path, float_units: list[str], change: dict[str, Any]) -> dict[str, Any]:
        key = "+".join(sorted(change)) + (f"|{len(float_units)}" if float_units else "")
        path.write_text(key)
        return {"change": change, "float": float_units}

    @dataclass
    class Ranked:
        name: str

    rank = (lambda _: [Ranked(n) for n in ranked]) if ranked is not None else None
    _, entry = search_int8(make, tmp_path / "out.onnx", judge, FallbackSpec(max_trials=max_trials), rank,
                           lambda diagnosis: (rungs, [{"remedy": "symmetric", "why": "slow here"}]),
                           lambda trial: {"activations": [{"name": "h2"}]})
    entry["chosen"] = (tmp_path / "out.onnx").read_text()
    return entry


def test_the_search_stops_at_the_first_remedy_that_meets_the_budgets(tmp_path: Path) -> None:
    judge = FakeJudge({"": (0.5, 5), "a": (0.4, 5), "b": (0.7, 5), "b+c": (0.95, 5)})
    rungs = [Rung("a", {"a": 1}, "no help"), Rung("b", {"b": 1}, "closer"), Rung("c", {"c": 1}, "enough"),
             Rung("d", {"d": 1}, "never tried")]
    entry = _search(tmp_path, judge, rungs, ranked=["n1", "n2"])
    assert [t["remedies"] for t in entry["trials"]] == [[], ["a"], ["b"], ["b", "c"]]  # a dropped, b kept
    assert entry["chosen"] == "b+c" and entry["met_budgets"] and entry["chosen_trial"] == 3
    assert [r["outcome"] for r in entry["remedies"]] == ["dropped: no closer", "kept: closer", "meets the budgets"]
    assert entry["diagnosis"] == {"activations": [{"name": "h2"}]}
    assert entry["remedies_left_out"] == [{"remedy": "symmetric", "why": "slow here"}]
    assert entry["sensitivity_top"] == []  # no float fallback was needed


def test_a_passing_remedy_slower_than_fp32_does_not_end_the_search(tmp_path: Path) -> None:
    # "a" meets the budgets but runs slower than the reference (12 > 10 ms); "b" on top of it is faster and kept.
    # Float fallback buys accuracy, not speed: it never runs once a trial has met the budgets.
    judge = FakeJudge({"": (0.5, 5), "a": (0.95, 12), "a+b": (0.95, 8)})
    entry = _search(tmp_path, judge, [Rung("a", {"a": 1}, ""), Rung("b", {"b": 1}, "")], ranked=["n1", "n2"])
    assert entry["remedies"][0]["outcome"] == "meets the budgets, but slower than fp32"
    assert entry["chosen"] == "a+b" and len(entry["trials"]) == 3 and entry["sensitivity_top"] == []


def test_when_every_passing_trial_is_slower_the_fastest_is_kept(tmp_path: Path) -> None:
    judge = FakeJudge({"": (0.5, 5), "a": (0.95, 14), "a+b": (0.95, 12)})
    entry = _search(tmp_path, judge, [Rung("a", {"a": 1}, ""), Rung("b", {"b": 1}, "")], ranked=["n1"])
    assert entry["chosen"] == "a+b" and entry["met_budgets"] and len(entry["trials"]) == 3


def test_the_trial_budget_bounds_the_ladder_and_says_what_was_not_tried(tmp_path: Path) -> None:
    judge = FakeJudge({"": (0.5, 5), "a": (0.6, 5), "a+b": (0.7, 5)})
    rungs = [Rung("a", {"a": 1}, ""), Rung("b", {"b": 1}, ""), Rung("c", {"c": 1}, "")]
    entry = _search(tmp_path, judge, rungs, max_trials=3)
    assert len(entry["trials"]) == 3 and not entry["met_budgets"] and entry["chosen"] == "a+b"
    assert entry["remedies"][2] == {"remedy": "c", "outcome": "not tried: the trial budget ran out", "why": ""}


def test_a_trial_within_the_timing_noise_of_fp32_ends_the_search(tmp_path: Path) -> None:
    judge = FakeJudge({"": (0.95, 10.3)})  # 3% over the reference's 10 ms: noise, not slower (margin 0.95x)
    entry = _search(tmp_path, judge, [Rung("a", {"a": 1}, "")], ranked=["n1"])
    assert len(entry["trials"]) == 1 and entry["chosen"] == "" and "remedies" not in entry


class ScoredJudge(FakeJudge):
    """Scores a candidate by a function of its settings and its count of float units ("w|6": remedy w, 6 float)."""

    def __init__(self, score: Any) -> None:
        super().__init__({})
        self.score = score

    def __call__(self, model: Path) -> tuple[float, float, float, dict]:
        changes, _, k = model.read_text().partition("|")
        return self.score(changes.split("+"), int(k or 0)), 1.0, 5.0, {}


def test_a_stalled_fallback_tries_its_ceiling_then_again_on_top_of_a_complementing_remedy(tmp_path: Path) -> None:
    """The any-size text detector: keeping Convs float gains nothing and neither does keeping the element-wise ops
    float (weighted-ops, dropped), but both together pass: the error lies in both."""
    judge = ScoredJudge(lambda changes, k: (0.95 if k >= 6 else 0.8) if "w" in changes else (0.85 if k == 16 else 0.8))
    ranked = [f"n{i}" for i in range(16)]
    entry = _search(tmp_path, judge, [Rung("w", {"w": 1}, "", complements=True)], ranked=ranked, max_trials=12)
    floats = [(t["remedies"], len(t["float_nodes"])) for t in entry["trials"]]
    assert floats == [([], 0), (["w"], 0), ([], 1), ([], 2), ([], 4), ([], 16),  # stalled at 4: the ceiling misses
                      (["w"], 8), (["w"], 4), (["w"], 6), (["w"], 5)]  # bisected down from the ceiling, on top of w
    assert entry["complemented"] == ["w"] and entry["chosen"] == "w|6" and entry["met_budgets"]


def test_a_fallback_that_gains_keeps_doubling_and_never_tries_the_ceiling(tmp_path: Path) -> None:
    judge = ScoredJudge(lambda changes, k: 0.8 + 0.02 * k)  # passes (0.9) from 5 float units on
    entry = _search(tmp_path, judge, [Rung("w", {"w": 1}, "", complements=True)], ranked=[f"n{i}" for i in range(16)])
    assert [len(t["float_nodes"]) for t in entry["trials"]][2:] == [1, 2, 4, 8, 6, 5]
    assert entry["chosen"] == "|5" and "complemented" not in entry


def test_smoothquant_leaves_a_tied_weight_alone(tmp_path: Path) -> None:
    """Two MatMuls sharing one weight (tied embeddings) cannot take two scalings: neither is smoothed."""
    from onnx import TensorProto, helper

    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["a"], name="m1"), helper.make_node("Relu", ["a"], ["r"]),
         helper.make_node("MatMul", ["r", "w"], ["y"], name="m2")], "tied",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [weight])
    path = tmp_path / "tied.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    feeds = FeedSet({"x": np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32)})
    assert smooth(path, tmp_path / "out.onnx", feeds) == []
