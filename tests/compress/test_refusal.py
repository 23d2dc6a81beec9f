"""A quantized candidate ONNX Runtime refuses to load: localised (which node, why) and remedied, not the end of
the search. The refusal is ORT's own, reproduced on a tiny graph: a bias shared by two Conv nodes, and a Conv
output already named as the quantizer names the bias's copy ("b" -> "b0"), as tf2onnx named Basic Pitch's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from edgeconv.cli import main
from edgeconv.compress import quantize, refusal
from edgeconv.compress.judge import LoadingJudge
from edgeconv.compress.search import search_int8
from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError
from edgeconv.spec import FallbackSpec, StaticQuantSpec

STATIC = StaticQuantSpec(op_types=["Conv", "Transpose", "Add"], reduce_range=False)


@pytest.fixture(scope="module")
def shared_bias(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FeedSet]:
    rng = np.random.default_rng(0)

    def weight(name: str, shape: list[int]) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["x", "wa", "b"], ["b0"], name="conv_a", pads=[0, 1, 0, 1]),
             helper.make_node("Transpose", ["b0"], ["ta"], name="transpose", perm=[0, 2, 3, 1]),
             helper.make_node("Conv", ["x", "wb", "b"], ["yb"], name="conv_b", pads=[0, 1, 0, 1]),
             helper.make_node("Transpose", ["yb"], ["tb"], name="transpose_b", perm=[0, 2, 3, 1]),
             helper.make_node("Add", ["ta", "tb"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "shared_bias",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 2])],
                              [weight("wa", [2, 1, 1, 3]), weight("wb", [2, 1, 1, 3]), weight("b", [2])])
    path = tmp_path_factory.mktemp("refusal") / "float.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path, FeedSet({"x": rng.normal(size=(8, 1, 1, 8)).astype(np.float32)})


def _load(path: Path) -> Any:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_the_refusal_is_localised_to_the_node_and_the_reused_name(shared_bias: tuple[Path, FeedSet],
                                                                   tmp_path: Path) -> None:
    graph, feeds = shared_bias
    quantize.make_int8_static(graph, tmp_path / "q.onnx", feeds, STATIC)
    with pytest.raises(Exception) as refused:  # ORT raises its own pybind Fail
        _load(tmp_path / "q.onnx")
    found = refusal.localise(graph, tmp_path / "q.onnx", str(refused.value))
    assert found is not None
    assert (found["node"], found["op"]) == ("transpose", "Transpose") and "perm" in found["reason"]
    assert found["constant_for_activation"] == [{"node": "transpose", "tensor": "b0", "writer": "conv_a"}]
    assert found["remedy"] == refusal.UNSHARE and found["change"] == {"unshare_initializers": True}
    assert refusal.localise(graph, tmp_path / "q.onnx", "out of memory") is None  # not a node's refusal


def test_unsharing_the_bias_keeps_the_function_and_the_candidate_loads(shared_bias: tuple[Path, FeedSet],
                                                                       tmp_path: Path) -> None:
    graph, feeds = shared_bias
    assert refusal.shared_initializers(graph) == {"b": 2}
    assert refusal.unshare_initializers(graph, tmp_path / "unshared.onnx") == 1
    assert refusal.shared_initializers(tmp_path / "unshared.onnx") == {}
    x = {"x": feeds.inputs["x"][:1]}
    np.testing.assert_array_equal(_load(tmp_path / "unshared.onnx").run(None, x)[0], _load(graph).run(None, x)[0])
    quantize.make_int8_static(tmp_path / "unshared.onnx", tmp_path / "q.onnx", feeds, STATIC)
    assert quantize.quantized_nodes(tmp_path / "q.onnx") > 0
    _load(tmp_path / "q.onnx").run(None, x)


def _make(graph: Path, feeds: FeedSet) -> Any:
    def make(path: Path, float_nodes: list[str], change: dict[str, Any]) -> Any:
        source = graph
        if change.get("unshare_initializers"):
            source = path.with_name(path.stem + ".unshared.onnx")
            refusal.unshare_initializers(graph, source)
        return quantize.make_int8_static(source, path, feeds, STATIC, float_nodes)
    return make


def _refused(graph: Path) -> Any:
    return lambda candidate, exc: refusal.localise(graph, candidate, str(exc))


def test_the_search_goes_on_past_a_refused_candidate(shared_bias: tuple[Path, FeedSet], tmp_path: Path) -> None:
    graph, feeds = shared_bias
    judge = LoadingJudge(feeds.example(0), 1)
    _, entry = search_int8(_make(graph, feeds), tmp_path / "int8.onnx", judge, FallbackSpec(), None,
                           refusal=_refused(graph))
    assert [r["node"] for r in entry["refusals"]] == ["transpose"] and entry["refusals"][0]["trial"] == 0
    assert entry["trials"][0]["refused"]["remedy"] == refusal.UNSHARE
    assert entry["chosen_trial"] == 1 and entry["trials"][1]["remedies"] == [refusal.UNSHARE]
    _load(tmp_path / "int8.onnx")


def test_a_refusal_no_remedy_avoids_is_a_stage_error(shared_bias: tuple[Path, FeedSet], tmp_path: Path) -> None:
    graph, feeds = shared_bias

    def keep_transpose_float(candidate: Path, exc: Exception) -> dict[str, Any] | None:
        found = refusal.localise(graph, candidate, str(exc))
        return found and {**found, "remedy": refusal.KEEP_FLOAT, "keep_float": ["transpose"], "change": {}}

    with pytest.raises(StageError, match=r"refused every int8 candidate \(2\): node transpose"):
        search_int8(_make(graph, feeds), tmp_path / "int8.onnx", LoadingJudge(feeds.example(0), 1), FallbackSpec(),
                    None, refusal=keep_transpose_float)
    assert not (tmp_path / "int8.onnx").exists() and not (tmp_path / ".trials").exists()


def test_a_build_without_budgets_remedies_the_refusal_too(shared_bias: tuple[Path, FeedSet], tmp_path: Path) -> None:
    """No budgets, no search: the int8 candidate must still load (compress/judge.LoadingJudge), through the CLI."""
    graph, feeds = shared_bias
    shutil.copy(graph, tmp_path / "shared_bias.onnx")
    np.savez(tmp_path / "data.npz", x=feeds.inputs["x"])
    spec = {"name": "shared-bias", "model": {"path": "shared_bias.onnx", "task": "generic"},
            "calibration": {"path": "data.npz"}, "evaluation": {"path": "data.npz"},
            "targets": [{"name": "x86-cpu-ort", "precisions": ["int8-static"]}],
            "latency": {"warmup": 1, "runs": 11, "min_time_s": 0}, "output": "out"}
    (tmp_path / "edgeconv.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(main, ["build", str(tmp_path / "edgeconv.yaml")])
    assert result.exit_code == 0, result.output
    (static,) = json.loads((tmp_path / "out" / "report.json").read_text())["artifacts"]
    assert static["status"] == "passed"
    search = static["quantization"]["fallback"]
    (refused,) = search["refusals"]  # at the node onnxslim's import left reading "b0"
    assert refused["remedy"] == refusal.UNSHARE and refused["trial"] == 0
    assert [(s["tensor"], s["writer"]) for s in refused["constant_for_activation"]] == [("b0", "conv_a")]
