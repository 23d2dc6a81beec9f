"""int4 recipes of the ONNX Runtime GenAI target: recipe -> builder options / edgeconv's quantization pass, and the
pass itself on a tiny graph (no model builder, no download: a few ms of ORT).

A weight on a 4-bit grid with a float offset per block of 32 (what a GGUF Q4_1 dequantizes to) comes back exactly
from ``float_zp`` and not from RTN with integer zero points; ``int8_nodes`` and ``lm_head: int8`` show up by name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.errors import SpecError

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")  # ORT's HQQ quantizer, which float_zp reuses, works in torch


def test_own_pass_recipes_write_fp32_then_name_their_pass_options() -> None:
    from edgeconv.backends.onnxruntime_genai.build import GenaiRecipe

    recipe = GenaiRecipe("int4", algo="float_zp", lm_head="int8", embeddings="float",
                         int8_nodes=("/model/layers.2?/attn/qkv_proj/MatMul",))
    assert recipe.own_pass and recipe.extra_options() == {}  # the builder writes fp32
    options = recipe.pass_options()
    assert options is not None and options["algo"] == "float_zp" and options["lm_head"] == "int8"
    assert options["int8_nodes"] == ["/model/layers.2?/attn/qkv_proj/MatMul"]
    assert GenaiRecipe("int4", int8_nodes=("x",), embeddings="float").own_pass  # RTN + int8 nodes: the pass too
    assert not GenaiRecipe("int4").own_pass and GenaiRecipe("int4").pass_options() is None
    with pytest.raises(SpecError, match="embeddings: float"):
        GenaiRecipe("int4", algo="float_zp").pass_options()
    with pytest.raises(SpecError, match="int4 recipes"):
        GenaiRecipe("int8", algo="hqq").extra_options()
    with pytest.raises(SpecError, match="not k_quant"):
        GenaiRecipe("int4", algo="k_quant", int8_nodes=("x",), embeddings="float").pass_options()
    same = GenaiRecipe("int4", algo="rtn_offset", embeddings="float", lm_head="same").pass_options()
    assert same is not None and same["lm_head"] == "same"  # built since the tied embedding is left alone


def test_target_quantize_section_reaches_the_recipe() -> None:
    from edgeconv.backends.onnxruntime_genai.backend import recipe_for
    from edgeconv.spec.targets import TargetProfile

    profile = TargetProfile(name="t", backend="onnxruntime_genai", precisions=["int4"],
                            quantize={"algo": "hqq", "int8_nodes": ["/lm_head/MatMul"], "embeddings": "float"})
    recipe = recipe_for(profile, "int4")
    assert recipe.algo == "hqq" and recipe.int8_nodes == ("/lm_head/MatMul",)
    with pytest.raises(SpecError, match="unknown key 'bits'"):
        recipe_for(profile.model_copy(update={"quantize": {"bits": 3}}), "int4")


def _q41_grid(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """A [K, N] weight whose every block of 32 along K is d * q + m (q in 0..15, float d and m), like GGUF Q4_1."""
    q = rng.integers(0, 16, size=(k, n)).astype(np.float32)
    q[0::32], q[1::32] = 0, 15  # every block spans its grid, as Q4_1's min / max make it
    d = np.repeat(rng.uniform(0.01, 0.05, size=(k // 32, n)).astype(np.float32), 32, axis=0)
    m = np.repeat(rng.uniform(-0.5, 0.0, size=(k // 32, n)).astype(np.float32), 32, axis=0)
    return d * q + m


def _tiny_model(w1: np.ndarray, w2: np.ndarray):  # -> onnx.ModelProto
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="/model/layers.0/mlp/up_proj/MatMul"),
         helper.make_node("MatMul", ["h", "w2"], ["logits"], name="/lm_head/MatMul")],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", w1.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["rows", w2.shape[1]])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def _run(model, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_float_zero_points_reproduce_a_q4_1_grid_that_rtn_does_not(tmp_path: Path) -> None:
    import onnx

    from edgeconv.backends.onnxruntime_genai.build import describe_weights
    from edgeconv.backends.onnxruntime_genai.quantize import quantize_model

    rng = np.random.default_rng(0)
    w1, w2 = _q41_grid(rng, 128, 64), rng.normal(size=(64, 32)).astype(np.float32)
    x = rng.normal(size=(1, 128)).astype(np.float32)
    exact = x @ w1 @ w2
    base = {"block_size": 32, "symmetric": True, "accuracy_level": None, "int8_nodes": []}
    errors = {}
    for algo in ("float_zp", "rtn_offset", "default"):
        model = quantize_model(_tiny_model(w1, w2), {**base, "algo": algo, "lm_head": "float"})
        errors[algo] = float(np.abs(_run(model, x) - exact).max() / np.abs(exact).max())
    assert max(errors["float_zp"], errors["rtn_offset"]) < 1e-5 < 1e-2 < errors["default"], errors

    for algo, kind in (("float_zp", "asymmetric (float zero points) accuracy"),
                       ("rtn_offset", "asymmetric + float block minima accuracy")):
        mixed = quantize_model(_tiny_model(w1, w2), {**base, "algo": algo, "lm_head": "int8"})
        onnx.save(mixed, tmp_path / "model.onnx")
        quantized, kept_float = describe_weights(tmp_path / "model.onnx")
        assert quantized["/model/layers.0/mlp/up_proj/MatMul_Q4"] == f"int4 block 32 {kind}_level 0"
        assert quantized["/lm_head/MatMul_Q8"].startswith("int8 block 32 symmetric")
        assert kept_float == []  # rtn_offset's float correction MatMuls are part of the int4 node, not weights

    by_pattern = quantize_model(_tiny_model(w1, w2), {**base, "algo": "hqq", "lm_head": "float",
                                                      "int8_nodes": ["/model/layers.*/up_proj/MatMul"]})
    onnx.save(by_pattern, tmp_path / "model.onnx")
    quantized, kept_float = describe_weights(tmp_path / "model.onnx")
    assert list(quantized) == ["/model/layers.0/mlp/up_proj/MatMul_Q8"] and kept_float == ["/lm_head/MatMul"]


def test_off_grid_weights_are_found_and_go_to_int8() -> None:
    from edgeconv.backends.onnxruntime_genai.quantize import on_grid, plan

    rng = np.random.default_rng(1)
    grid = _q41_grid(rng, 64, 16)
    assert on_grid(grid, 32) and not on_grid(grid + rng.normal(scale=1e-3, size=grid.shape).astype(np.float32), 32)
    assert not on_grid(grid[:48], 32)  # K not a multiple of the block
    groups = plan(["a", "b", "/lm_head/MatMul"], {"lm_head": "int8", "int8_nodes": []}, off_grid=["b"])
    assert groups == {"int4": ["a"], "int8": ["b", "/lm_head/MatMul"], "float": []}


def _tied_model(w1: np.ndarray, head: np.ndarray):  # -> onnx.ModelProto
    """The builder's fp32 layout: the tied embedding is the lm_head's weight read through a Transpose."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Transpose", ["lm_head.MatMul.weight"], ["table"], name="/model/embed_tokens/Transpose"),
         helper.make_node("Gather", ["table", "ids"], ["embedded"], name="/model/embed_tokens/Gather"),
         helper.make_node("MatMul", ["x", "w1"], ["h"], name="/model/layers.0/mlp/up_proj/MatMul"),
         helper.make_node("MatMul", ["h", "lm_head.MatMul.weight"], ["logits"], name="/lm_head/MatMul")],
        "tied", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w1.shape[0]]),
                 helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("embedded", TensorProto.FLOAT, [2, head.shape[0]]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, head.shape[1]])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(head, "lm_head.MatMul.weight")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def test_lm_head_with_the_pass_leaves_the_tied_embedding_alone() -> None:
    """``lm_head: same`` once overwrote the weight the embedding reads (perplexity +35,000 % on the sample)."""
    import onnxruntime as ort

    from edgeconv.backends.onnxruntime_genai.quantize import quantize_model

    rng = np.random.default_rng(2)
    w1, head = _q41_grid(rng, 64, 64), rng.normal(size=(64, 96)).astype(np.float32)
    model = quantize_model(_tied_model(w1, head), {"block_size": 32, "symmetric": True, "accuracy_level": None,
                                                   "int8_nodes": [], "algo": "rtn_offset", "lm_head": "same"})
    assert "/lm_head/MatMul_Q4" in {n.name for n in model.graph.node}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x, ids = rng.normal(size=(1, 64)).astype(np.float32), np.array([3, 90])
    embedded, logits = session.run(None, {"x": x, "ids": ids})
    assert np.array_equal(embedded, head.T[ids])
    assert np.abs(logits - x @ w1 @ head).max() < 0.2 * np.abs(x @ w1 @ head).max()  # int4 of a float head



def test_gptq_recipe_calibrates_and_needs_the_spec_texts() -> None:
    from edgeconv.backends import get_backend
    from edgeconv.backends.onnxruntime_genai.backend import recipe_for
    from edgeconv.backends.onnxruntime_genai.build import GenaiRecipe, build_genai
    from edgeconv.spec.targets import TargetProfile

    profile = TargetProfile(name="t", backend="onnxruntime_genai", precisions=["int4"],
                            quantize={"algo": "gptq", "symmetric": False, "embeddings": "float"})
    recipe = recipe_for(profile, "int4")
    assert recipe.data_aware and recipe.own_pass and recipe.pass_options()["algo"] == "gptq"  # type: ignore[index]
    backend = get_backend("onnxruntime_genai")
    assert backend.needs_calibration(profile, "int4")
    assert not backend.needs_calibration(profile.model_copy(update={"quantize": {}}), "int4")
    assert not GenaiRecipe("int4", algo="rtn_offset", embeddings="float").data_aware
    with pytest.raises(SpecError, match="calibrates on texts"):  # before any subprocess or folder
        build_genai(Path("unused"), Path("unused") / "out", recipe, calibration=None)


def test_gptq_compensates_rounding_on_calibration_like_data_where_rtn_does_not() -> None:
    """GPTQ on ORT's MatMulNBits layout: with an identity Hessian it is ORT's own asymmetric RTN (to float rounding
    of the scales: the grid and the packing are ORT's), and on correlated inputs its outputs beat RTN's on held-out
    inputs of that distribution."""
    from edgeconv.backends.onnxruntime_genai import gptq
    from edgeconv.backends.onnxruntime_genai.quantize import quantize_model

    rng = np.random.default_rng(3)
    w1, w2 = _q41_grid(rng, 128, 64), rng.normal(size=(64, 32)).astype(np.float32)
    mix = rng.normal(size=(128, 128)).astype(np.float32)
    calib, held_out = (rng.normal(size=(2, 256, 128)).astype(np.float32) @ mix)
    exact = held_out @ w1 @ w2
    up = ["/model/layers.0/mlp/up_proj/MatMul"]
    rtn = quantize_model(_tiny_model(w1, w2), {"block_size": 32, "symmetric": False, "accuracy_level": 4,
                                               "int8_nodes": [], "algo": "default", "lm_head": "float"})
    identity = gptq.quantize(_tiny_model(w1, w2), up, [{"x": np.eye(128, dtype=np.float32)}], 32, False, 4)
    assert np.allclose(_run(identity, held_out), _run(rtn, held_out), rtol=1e-5, atol=1e-3)
    calibrated = gptq.quantize(_tiny_model(w1, w2), up, [{"x": calib}], 32, False, 4)
    assert [n.op_type for n in calibrated.graph.node] == ["MatMulNBits", "MatMul"]
    gptq_error, rtn_error = (float(np.abs(_run(m, held_out) - exact).mean()) for m in (calibrated, rtn))
    assert gptq_error < 0.9 * rtn_error, (gptq_error, rtn_error)


def test_default_int4_is_integer_zero_point_rtn_on_the_fast_path(tmp_path: Path) -> None:
    """The target's int4: asymmetric RTN with integer zero points (no float correction MatMuls), off-grid weights and
    lm_head int8; the builder's own CPU default and the exact-grid recipe stay reachable by quantize keys."""
    import onnx

    from edgeconv.backends.onnxruntime_genai.backend import recipe_for
    from edgeconv.backends.onnxruntime_genai.build import describe_weights
    from edgeconv.backends.onnxruntime_genai.quantize import quantize_model
    from edgeconv.spec.targets import TargetProfile

    profile = TargetProfile(name="t", backend="onnxruntime_genai", precisions=["int4"])
    options = recipe_for(profile, "int4").pass_options()
    assert options is not None and options["algo"] == "default" and options["symmetric"] is False
    assert (options["off_grid"], options["lm_head"]) == ("int8", "int8")
    rng = np.random.default_rng(4)
    w1, w2 = _q41_grid(rng, 128, 64), rng.normal(size=(64, 32)).astype(np.float32)
    onnx.save(quantize_model(_tiny_model(w1, w2), options), tmp_path / "model.onnx")
    quantized, kept_float = describe_weights(tmp_path / "model.onnx")
    assert quantized["/model/layers.0/mlp/up_proj/MatMul_Q4"] == "int4 block 32 asymmetric accuracy_level 4"
    assert quantized["/lm_head/MatMul_Q8"].startswith("int8") and kept_float == []
    builder = recipe_for(profile.model_copy(update={"quantize": {
        "algo": "default", "symmetric": True, "lm_head": "same", "embeddings": "same", "off_grid": "int4"}}), "int4")
    assert not builder.own_pass and builder.extra_options()["is_symmetric"] == "true"
    exact = recipe_for(profile.model_copy(update={"quantize": {"algo": "rtn_offset"}}), "int4").pass_options()
    assert exact is not None and exact["algo"] == "rtn_offset" and exact["off_grid"] == "int8"
