"""int8-static on a mobile CNN: HardSigmoid runs as an exact int8 Add and the image-reading stem Conv stays float."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeconv.compress import quantize
from edgeconv.compress.qdq_hardsigmoid import rewrite_hardsigmoids
from edgeconv.data.feeds import FeedSet
from edgeconv.spec import StaticQuantSpec


def mobile_block(path: Path) -> None:
    """Stem Conv (3 -> 16) + HardSwish, then a 1x1 Conv gated squeeze-excitation-style by a HardSigmoid."""
    rng = np.random.default_rng(0)
    weights = {"w0": rng.normal(0, 0.5, (16, 3, 3, 3)), "w1": rng.normal(0, 0.3, (16, 16, 1, 1)),
               "w2": rng.normal(0, 0.3, (16, 16, 1, 1))}
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["c0"], name="stem", pads=[1, 1, 1, 1]),
        helper.make_node("HardSwish", ["c0"], ["h0"], name="hswish"),
        helper.make_node("Conv", ["h0", "w1"], ["c1"], name="pointwise"),
        helper.make_node("HardSigmoid", ["c1"], ["g"], name="gate", alpha=1 / 6, beta=0.5),
        helper.make_node("Mul", ["h0", "g"], ["m"], name="scale"),
        helper.make_node("Conv", ["m", "w2"], ["y"], name="head"),
    ]
    graph = helper.make_graph(
        nodes, "mobile", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 16, 16])],
        [numpy_helper.from_array(w.astype(np.float32), k) for k, w in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]), str(path))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FeedSet]:
    folder = tmp_path_factory.mktemp("mobile")
    mobile_block(folder / "model.onnx")
    quantize.float_graph("int8-static", folder / "model.onnx", folder / "float.onnx", quantize.ModelFamily())
    rng = np.random.default_rng(1)
    return folder, FeedSet({"x": rng.normal(size=(24, 3, 16, 16)).astype(np.float32)})


def run(path: Path, x: np.ndarray, dump: Path | None = None) -> np.ndarray:
    options = ort.SessionOptions()
    if dump is not None:
        options.optimized_model_filepath = str(dump)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_hardsigmoids_become_int8_adds_with_the_same_outputs_and_the_stem_stays_float(
        built: tuple[Path, FeedSet], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, calibration = built
    record = quantize.make_int8_static(folder / "float.onnx", folder / "int8.onnx", calibration, StaticQuantSpec())
    assert any("stem Conv" in n and "stem" in n for n in record.notes)
    assert any(n.startswith("2 HardSigmoid(s) run as int8 Add") for n in record.notes)  # the gate + HardSwish's
    monkeypatch.setattr(quantize, "rewrite_hardsigmoids", lambda path: 0)
    quantize.make_int8_static(folder / "float.onnx", folder / "plain.onnx", calibration, StaticQuantSpec())
    x = np.random.default_rng(2).normal(size=(1, 3, 16, 16)).astype(np.float32)
    rewritten, plain = run(folder / "int8.onnx", x, folder / "optimized.onnx"), run(folder / "plain.onnx", x)
    step = np.abs(plain).max() / 127  # one int8 step of the output's range, at the least
    assert np.abs(rewritten - plain).max() <= 2 * step and np.mean(rewritten == plain) > 0.9
    kernels = {n.op_type for n in onnx.load(str(folder / "optimized.onnx")).graph.node}
    assert "QLinearAdd" in kernels and "HardSigmoid" not in kernels
    stem = next(n for n in onnx.load(str(folder / "int8.onnx")).graph.node if n.op_type == "Conv")
    assert stem.input[0] == "x"  # the stem reads the float image, no QuantizeLinear before it


def test_the_diagnosis_reads_a_rewritten_hardsigmoid_in_its_own_terms(built: tuple[Path, FeedSet]) -> None:
    """The int8 Add writes 1/alpha times HardSigmoid before its Q clips it: the localisation maps it back, so the
    gate's local error is the rounding's (the raw comparison read the designed clip and scale as 1 dB of noise)."""
    from edgeconv.compress.qdq_error import localise

    folder, calibration = built
    quantize.make_int8_static(folder / "float.onnx", folder / "diag.onnx", calibration, StaticQuantSpec())
    gate = next(a for a in localise(folder / "float.onnx", folder / "diag.onnx", calibration.head(4)).activations
                if a.name == "g")
    assert gate.local_sqnr_db > 30, gate  # uint8 over [0, 1]: ~40 dB of rounding noise


def test_a_hardsigmoid_whose_int8_range_is_not_0_to_1_is_left_alone(built: tuple[Path, FeedSet]) -> None:
    folder, calibration = built
    symmetric = StaticQuantSpec(activation_type="int8")  # TensorRT's form: ranges [-r, r], zero point 0
    record = quantize.make_int8_static(folder / "float.onnx", folder / "sym.onnx", calibration, symmetric)
    assert not any("run as int8 Add" in n or "stem Conv" in n for n in record.notes)
    shutil.copy(folder / "sym.onnx", folder / "again.onnx")
    assert rewrite_hardsigmoids(folder / "again.onnx") == 0
    assert sum(n.op_type == "HardSigmoid" for n in onnx.load(str(folder / "sym.onnx")).graph.node) == 2


def conv_chain(path: Path) -> None:
    """Three 3x3 Convs with Relus between them (the middle one is the one a spec keeps float)."""
    rng = np.random.default_rng(4)
    weights = {f"w{i}": rng.normal(0, 0.3, (8, 3 if i == 0 else 8, 3, 3)).astype(np.float32) for i in range(3)}
    weights.update({f"b{i}": rng.normal(0, 0.1, 8).astype(np.float32) for i in range(3)})
    nodes = []
    for i, name in enumerate(("first", "middle", "last")):
        source = "x" if i == 0 else f"r{i - 1}"
        nodes.append(helper.make_node("Conv", [source, f"w{i}", f"b{i}"], [f"c{i}"], name=name, pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], ["y" if i == 2 else f"r{i}"], name=f"relu{i}"))
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])],
        [numpy_helper.from_array(w, k) for k, w in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]), str(path))


def test_a_conv_kept_float_stays_float_in_onnx_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ORT's load-time WeightBiasQuantization rounds the weights of a float Conv between int8 neighbours to int8
    (per tensor) and fuses it into a QLinearConv; the excluded Conv gets its own per-axis DequantizeLinear, and
    ORT then runs it float: exactly what it computes with that pass turned off."""
    conv_chain(tmp_path / "model.onnx")
    quantize.float_graph("int8-static", tmp_path / "model.onnx", tmp_path / "float.onnx", quantize.ModelFamily())
    calibration = FeedSet({"x": np.random.default_rng(5).normal(size=(16, 3, 16, 16)).astype(np.float32)})
    keep = StaticQuantSpec(exclude_nodes=["middle"])
    record = quantize.make_int8_static(tmp_path / "float.onnx", tmp_path / "kept.onnx", calibration, keep)
    assert any(n.startswith("1 Conv/Gemm kept float") for n in record.notes), record.notes
    monkeypatch.setattr(quantize, "keep_weighted_float", lambda path: [])  # as it was
    quantize.make_int8_static(tmp_path / "float.onnx", tmp_path / "requantized.onnx", calibration, keep)
    x = np.random.default_rng(6).normal(size=(1, 3, 16, 16)).astype(np.float32)

    def run_without_the_pass(name: str) -> np.ndarray:
        return ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"],
                                    disabled_optimizers=["WeightBiasQuantization"]).run(None, {"x": x})[0]

    def kernels(name: str) -> list[str]:
        run(tmp_path / name, x, tmp_path / f"optimized-{name}")
        return [n.op_type for n in onnx.load(str(tmp_path / f"optimized-{name}")).graph.node]

    intended = run_without_the_pass("requantized.onnx")  # the QDQ model as quantize_static wrote it
    assert np.array_equal(run(tmp_path / "kept.onnx", x), intended)
    assert not np.array_equal(run(tmp_path / "requantized.onnx", x), intended)  # ORT rounded the "float" weights
    assert kernels("requantized.onnx").count("QLinearConv") == 3  # ... and ran the middle Conv in int8
    assert kernels("kept.onnx").count("QLinearConv") == 2
