"""The OpenVINO int8 search's parts on a tiny LSTM made here: the remedy ladder, NNCF's options for a trial
(ignored scope by name and type), the ranking of NNCF's int8 ops, and the fidelity slack accuracy control uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.backends.openvino.control import budget_slack
from edgeconv.backends.openvino.remedies import openvino_ladder
from edgeconv.spec.budgets import OutputBudgets
from edgeconv.verify.fidelity import example_terms

ov = pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'edgeconv[openvino]')")
nncf = pytest.importorskip("nncf", reason="NNCF is not installed (pip install 'edgeconv[openvino]')")
MIXED = {"preset": "mixed", "model_type": "transformer"}


@pytest.fixture(scope="module")
def lstm() -> object:
    """A 2-layer LSTM encoder with a linear head, as OpenVINO converts it from torch."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 16, 2, batch_first=True)
            self.head = torch.nn.Linear(16, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(x)
            return self.head(hidden[-1])

    torch.manual_seed(0)
    return ov.convert_model(Encoder().eval(), example_input=torch.rand(1, 20, 8))


def test_the_ladder_keeps_recurrent_ops_float_first_and_says_why_the_rest_are_left_out(lstm: object) -> None:
    rungs, left_out = openvino_ladder(lstm, MIXED, saturates=False, control="fidelity", wanted=None)
    names = [r.name for r in rungs]
    assert names == ["recurrent-float", "smoothquant", "bias-correction", "nncf-accuracy-control"]
    assert rungs[0].change == {"ignored_types": ["LSTMSequence"]} and "LSTMSequence" in rungs[0].why
    why = {r["remedy"]: r["why"] for r in left_out}
    assert "MIXED preset" in why["mixed-preset"] and "saturate" in why["overflow-fix"]
    assert "16-bit" in why["int16-activations"]  # an ONNX Runtime remedy, said why not here

    performance = {"preset": "performance", "model_type": None}
    rungs, left_out = openvino_ladder(lstm, performance, saturates=True, control=None, wanted=None)
    assert [r.name for r in rungs] == ["recurrent-float", "mixed-preset", "smoothquant", "bias-correction",
                                       "overflow-fix"]
    assert any(r["remedy"] == "nncf-accuracy-control" for r in left_out)


def test_the_spec_s_remedies_choose_the_rungs_and_their_order(lstm: object) -> None:
    rungs, left_out = openvino_ladder(lstm, MIXED, saturates=False, control="fidelity",
                                      wanted=["nncf-accuracy-control", "percentile", "recurrent-float"])
    assert [r.name for r in rungs] == ["nncf-accuracy-control", "recurrent-float"]
    assert [r["remedy"] for r in left_out] == ["percentile"]


def test_a_trial_s_settings_become_nncf_s_options() -> None:
    from edgeconv.backends.openvino.quantize import nncf_options

    plain = nncf_options(MIXED, [])
    assert "ignored_scope" not in plain and "advanced_parameters" not in plain and plain["fast_bias_correction"]
    options = nncf_options({**MIXED, "ignored_types": ["LSTMSequence"], "smooth_quant_alpha": 0.5,
                            "fast_bias_correction": False}, ["/head/MatMul"])
    assert options["ignored_scope"].names == ["/head/MatMul"] and options["ignored_scope"].types == ["LSTMSequence"]
    assert options["advanced_parameters"].smooth_quant_alphas.matmul == 0.5
    assert options["preset"] == nncf.QuantizationPreset.MIXED and not options["fast_bias_correction"]


def test_the_int8_ops_are_ranked_and_ignoring_one_by_name_keeps_it_float(lstm: object, tmp_path: Path) -> None:
    from edgeconv.backends.openvino.quantize import nncf_options
    from edgeconv.backends.openvino.sensitivity import diagnosis, quantized_ops, rank_ops
    from edgeconv.data.feeds import FeedSet

    rng = np.random.default_rng(0)
    name = lstm.inputs[0].get_any_name()
    feeds = FeedSet({name: rng.normal(size=(16, 1, 20, 8)).astype(np.float32)[:, 0]})
    items = [feeds.example(i) for i in range(len(feeds))]
    quantized = nncf.quantize(lstm, nncf.Dataset(items), **nncf_options(MIXED, []))
    ov.save_model(quantized, str(tmp_path / "model.xml"), compress_to_fp16=False)
    ranked = rank_ops(lstm, tmp_path / "model.xml", feeds.head(4))
    assert ranked and {r.name for r in ranked} <= set(quantized_ops(quantized))
    assert ranked == sorted(ranked, key=lambda r: -r.score) and any(r.output_error > 0 for r in ranked)
    assert diagnosis(ranked)["ops"][0]["name"] == ranked[0].name

    worst = ranked[0].name
    kept = nncf.quantize(lstm, nncf.Dataset(items), **nncf_options(MIXED, [worst]))
    assert worst not in quantized_ops(kept)


def test_fidelity_slack_is_one_when_exact_and_zero_at_the_budget() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(8, 32))
    budgets = OutputBudgets(min_snr_db=20)
    exact, each = budget_slack(example_terms(reference, reference), budgets)
    assert exact == 1.0 and np.all(each == 1.0)
    noise = rng.normal(size=reference.shape)
    noise *= np.sqrt(np.sum(reference**2) / np.sum(noise**2) / 100)  # SNR exactly 20 dB over the set
    at_budget, _ = budget_slack(example_terms(reference + noise, reference), budgets)
    assert at_budget == pytest.approx(0.0, abs=1e-9)
    worse, _ = budget_slack(example_terms(reference + 2 * noise, reference), OutputBudgets(min_snr_db=20,
                                                                                          min_cosine=0.9))
    assert worse < 0


def test_onnx_nodes_the_spec_keeps_float_are_found_under_openvinos_names(tmp_path: Path) -> None:
    """quantize.static.exclude_nodes names ONNX nodes; the ONNX frontend calls a biased Conv '<name>/WithoutBiases'."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeconv.backends.openvino.quantize import spec_float_ops

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w0"),
             numpy_helper.from_array(rng.normal(size=(4, 4, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b")]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w0", "b"], ["front"], name="front/conv"),
         helper.make_node("Conv", ["front", "w1", "b"], ["y"], name="body/conv")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 12, 12])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    model = ov.Core().read_model(tmp_path / "m.onnx")
    kept = spec_float_ops(model, ["front/conv"])
    convs = [op for op in model.get_ops() if op.get_type_name() == "Convolution"]
    assert [op.get_friendly_name() for op in convs if op.get_friendly_name() in kept] == ["front/conv/WithoutBiases"]
    assert spec_float_ops(model, ["absent"]) == []
    body = next(op for op in convs if op.get_friendly_name().startswith("body/conv"))
    body.set_friendly_name("stem/Neg;stem/transpose;tail/conv;tail/conv/Squeeze")  # neighbours folded in (tf2onnx)
    assert spec_float_ops(model, ["tail/conv;tail/conv"]) == [body.get_friendly_name()]
    assert spec_float_ops(model, ["tail/co"]) == []  # a prefix of a name is not the node
