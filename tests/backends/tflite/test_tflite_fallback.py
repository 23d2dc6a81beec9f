"""int8-full's accuracy-aware search: module groups, per-group recipes, and the search inside a build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.backends.tflite.fallback import module_of

pytest.importorskip("litert_torch", reason="the TFLite extra is not installed (pip install 'edgeconv[tflite]')")
pytest.importorskip("ai_edge_quantizer", reason="the TFLite extra is not installed")
torch = pytest.importorskip("torch")


def test_module_of_names_the_producing_module_without_packages_or_index() -> None:
    scope = ("a.Wrapper/transformers.models.bert.modeling_bert.BertModel_bert/torch.nn.modules.linear.Linear_dense;;"
             "a.Wrapper/transformers.models.bert.modeling_bert.BertLayer_0/torch.nn.modules.normalization."
             "LayerNorm_LayerNorm;12;")
    assert module_of(scope) == "Wrapper/BertLayer_0/LayerNorm_LayerNorm"
    assert module_of("serving_default_output_0_output;") == "serving_default_output_0_output"


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.backends.tflite.test_tflite import write_tiny_project

    return write_tiny_project(
        tmp_path_factory.mktemp("tflite_fallback"), seed=1, n_eval=40, n_calib=24, flipped=0, name="tiny-fallback",
        targets=[{"name": "arm64-tflite", "threads": 1, "precisions": ["int8-full"]}],
        # Unreachable for plain a8w8 on a random-init model (near-tied logits): the search must run.
        budgets={"min_agreement": 1.0})


@pytest.fixture(scope="module")
def float_flatbuffer(tiny_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import transformers

    from edgeconv.backends.tflite.convert import convert
    from edgeconv.models.loaded import LoadedModel
    from edgeconv.models.tasks import TensorInfo
    from edgeconv.models.wrappers import NamedLogits

    names = ["input_ids", "attention_mask", "token_type_ids"]
    model = transformers.BertForSequenceClassification.from_pretrained(tiny_project / "model").eval()
    loaded = LoadedModel(NamedLogits(model, names), [TensorInfo(n, "int64", (1, 16)) for n in names], "logits", [])
    args = tuple(torch.ones(1, 16, dtype=torch.int64) for _ in names)
    path = tmp_path_factory.mktemp("float") / "model.tflite"
    convert(loaded, args, path)
    return path


def test_groups_follow_the_torch_modules(float_flatbuffer: Path) -> None:
    from edgeconv.backends.tflite.fallback import op_groups

    groups = op_groups(float_flatbuffer)
    names = [g.name for g in groups]
    assert len(names) == len(set(names))
    assert any(n.endswith("BertSelfAttention_self") for n in names)
    assert sum(n.endswith("LayerNorm_LayerNorm") for n in names) == 3  # embeddings + 2 in the layer
    layer_norm = next(g for g in groups if g.name.endswith("BertOutput_output/LayerNorm_LayerNorm"))
    assert {"MEAN", "RSQRT", "SQUARED_DIFFERENCE"} <= set(layer_norm.op_types)


def test_a_float_group_keeps_float_activations_and_int8_weights(float_flatbuffer: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from edgeconv.backends.tflite.fallback import op_groups
    from edgeconv.backends.tflite.quantize import _calibrate, _write, recipe_for

    rng = np.random.default_rng(0)
    rows = [{f"args_{i}": v[None].astype(np.int32) for i, v in enumerate(row)}
            for row in zip(*(_feeds_rows(rng)), strict=True)]
    qsvs, _ = _calibrate(float_flatbuffer, {"serving_default": rows}, 1)
    groups = op_groups(float_flatbuffer)
    attention = next(g for g in groups if g.name.endswith("BertSelfAttention_self"))
    plain, mixed = tmp_path / "plain.tflite", tmp_path / "mixed.tflite"
    _write(float_flatbuffer, plain, recipe_for("int8-full"), qsvs)
    _write(float_flatbuffer, mixed, recipe_for("int8-full", [attention]), qsvs)

    def group_dtypes(path: Path) -> set[str]:
        names = {scope.rstrip(";") for scope in attention.scopes}
        details = Interpreter(model_path=str(path)).get_tensor_details()
        return {np.dtype(d["dtype"]).name for d in details if d["name"] in names}

    assert "int8" in group_dtypes(plain)
    assert group_dtypes(mixed) == {"float32"}
    # The other groups stay integer, and the file keeps int8 weights.
    assert plain.stat().st_size == pytest.approx(mixed.stat().st_size, rel=0.2)


def _feeds_rows(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    from tests.backends.tflite.test_tflite import _feeds

    feeds = _feeds(rng, 8)
    return feeds["input_ids"], feeds["attention_mask"], feeds["token_type_ids"]


def test_the_search_keeps_the_most_sensitive_groups_float_until_the_budget_holds(tiny_project: Path) -> None:
    from edgeconv.api import pipeline as api
    from edgeconv.progress.steps import Step, listening
    from edgeconv.spec import load_spec

    seen: list[Step] = []
    with listening(seen.append):
        result = api.build(load_spec(tiny_project / "edgeconv.yaml"))
    (artifact,) = result.artifacts
    quantization = artifact.quantization
    fallback = quantization["fallback"]
    trials = fallback["trials"]
    assert trials[0]["float_nodes"] == [] and not trials[0]["passed"]
    assert len(trials) > 1
    ranking = [r["name"] for r in fallback["sensitivity_top"]]
    for trial in trials[1:]:  # each trial keeps a prefix of the ranking (most sensitive first) in float
        assert trial["float_nodes"] == ranking[: len(trial["float_nodes"])]
    scores = [r["logit_mse"] for r in fallback["sensitivity_top"]]
    assert scores == sorted(scores, reverse=True)
    chosen = trials[fallback["chosen_trial"]]
    assert quantization["float_activation_groups"] == chosen["float_nodes"]
    assert quantization["integer_only"] == (not chosen["float_nodes"])
    assert artifact.measurement is not None
    assert artifact.measurement.agreement >= trials[0]["agreement"]
    # the shared search says why none of the ONNX remedies is a rung on TFLite
    assert {r["remedy"] for r in fallback["remedies_left_out"]} >= {"percentile", "smoothquant", "int16-activations"}
    assert fallback["remedies"] == []
    # the search's progress: every group ranked, every trial reported with its verdict
    ranked = [s for s in seen if s.task.startswith("group ranking")]
    assert ranked[-1].done == ranked[-1].total == len(ranked) - 1 > 0
    reported = [s for s in seen if s.task.startswith("quantize-and-evaluate") and s.done > 0]
    assert len(reported) == len(trials) and "misses a budget" in reported[0].detail
