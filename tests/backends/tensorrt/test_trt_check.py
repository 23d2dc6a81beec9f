from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeconv.backends.tensorrt.check import check_onnx, known_versions, ops_for
from edgeconv.errors import ExitCode, StageError
from tests.backends.tensorrt.trt_models import tiny_matmul

SAMPLE_SPEC = Path(__file__).resolve().parents[3] / "samples" / "tweet-sentiment" / "edgeconv.yaml"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, Path]:
    """The sample's reference ONNX (exported here), 16 calibration feeds, and its default uint8 QDQ model."""
    from edgeconv.api import export_only
    from edgeconv.api.prepare import prepare
    from edgeconv.compress.quantize import make_int8_static
    from edgeconv.spec import StaticQuantSpec, load_spec

    out = tmp_path_factory.mktemp("sample")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGECONV_CACHE_DIR", str(out / "cache"))
        spec = load_spec(SAMPLE_SPEC)
        reference, _ = export_only(spec, out / "build")
        calibration = prepare(spec).calibration
    assert calibration is not None
    calib = calibration.head(16)
    make_int8_static(reference, out / "uint8.onnx", calib, StaticQuantSpec())
    return reference, calib, out / "uint8.onnx"


def _symmetric_qdq(src: Path, dst: Path, calibration) -> Path:
    from edgeconv.compress.quantize import make_int8_static
    from edgeconv.spec import StaticQuantSpec

    make_int8_static(src, dst, calibration, StaticQuantSpec(activation_type="int8"))
    return dst


def test_plain_float_model_passes(tiny_onnx: Path) -> None:
    report = check_onnx(tiny_onnx)
    assert report.ok and not report.problems


def test_unsupported_op_is_named_with_its_node(tmp_path: Path) -> None:
    _, table = ops_for(None)
    odd = next(op for op in ("Det", "DynamicQuantizeLinear", "MatMulInteger") if op in table["unsupported"])
    report = check_onnx(tiny_matmul(tmp_path / "odd.onnx", extra_op=odd))
    assert not report.ok
    problem = report.errors[0]
    assert problem.kind == "unsupported-op" and problem.nodes == [f"odd/{odd}"]
    with pytest.raises(StageError) as info:
        report.raise_for_errors("tiny")
    assert f"odd/{odd}" in str(info.value) and info.value.exit_code == ExitCode.STAGE_FAILED


def test_custom_domain_op_needs_a_plugin(tmp_path: Path) -> None:
    report = check_onnx(tiny_matmul(tmp_path / "ms.onnx", extra_op="BiasGelu", domain="com.microsoft"))
    assert report.kinds() == {"custom-domain"}
    assert "com.microsoft.BiasGelu" in report.errors[0].message


def test_op_table_is_per_release() -> None:
    versions = known_versions()
    assert ops_for("99.0")[0] == versions[-1]
    assert ops_for(versions[0])[0] == versions[0]
    assert ops_for("1.0")[0] == versions[0]  # older than any table: the oldest one, not a crash
    assert ops_for(f"{versions[-1]}.3")[0] == versions[-1]


def test_symmetric_int8_qdq_passes_and_uint8_is_refused(tiny_onnx: Path, tmp_path: Path) -> None:
    from edgeconv.compress.quantize import make_int8_static
    from edgeconv.data.feeds import FeedSet
    from edgeconv.spec import StaticQuantSpec

    calib = FeedSet({"x": np.random.default_rng(1).standard_normal((16, 4)).astype(np.float32)})
    sym = _symmetric_qdq(tiny_onnx, tmp_path / "sym.onnx", calib)
    good = check_onnx(sym)
    assert good.ok, good.to_dict()
    asym = tmp_path / "asym.onnx"
    make_int8_static(tiny_onnx, asym, calib, StaticQuantSpec(activation_type="uint8"))
    bad = check_onnx(asym)
    assert "qdq-uint8" in bad.kinds() and not bad.ok
    uint8 = next(p for p in bad.problems if p.kind == "qdq-uint8")
    assert all(n.endswith(("QuantizeLinear", "DequantizeLinear")) for n in uint8.nodes)


@pytest.mark.slow
def test_sample_uint8_qdq_is_flagged_with_node_names(sample: tuple[Path, object, Path]) -> None:
    report = check_onnx(sample[2])
    assert {"qdq-uint8", "qdq-asymmetric"} <= report.kinds()
    assert not report.ok
    assert all(p.nodes for p in report.problems)


@pytest.mark.slow
def test_sample_symmetric_int8_qdq_passes(sample: tuple[Path, object, Path], tmp_path: Path) -> None:
    reference, calib, _ = sample
    assert check_onnx(reference).ok
    report = check_onnx(_symmetric_qdq(reference, tmp_path / "sym.onnx", calib))
    assert report.ok, report.to_dict()
    assert not {"qdq-uint8", "qdq-asymmetric"} & report.kinds()
