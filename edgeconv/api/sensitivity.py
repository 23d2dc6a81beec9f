"""`edgeconv quantize`: with --sensitivity, rank the nodes an int8 recipe quantizes by the error each adds, on the
spec's exported reference (the library entry point beside api.build); without, a build of one precision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv.api.prepare import prepare
from edgeconv.api.session import Event, export_reference, stages_for
from edgeconv.errors import SpecError
from edgeconv.spec import Spec
from edgeconv.spec.targets import get_profile


def only_precision(precision: str) -> str:
    """The ``--set`` override that makes a build `edgeconv quantize`: the spec's first target, at ``precision``
    only (``load_spec(path, [only_precision(p)])``, then ``api.build``)."""
    return f"targets.0.precisions=[{precision}]"


def sensitivity(spec: Spec, precision: str, out: Path | None = None, on_event: Event | None = None) -> list[Any]:
    """Rank the nodes an int8 recipe quantizes by the error each adds (for `edgeconv quantize --sensitivity`)."""
    import tempfile

    from edgeconv.backends.onnxruntime.backend import with_reduce_range
    from edgeconv.compress import quantize
    from edgeconv.compress.sensitivity import rank_nodes

    if precision not in ("int8-dynamic", "int8-static"):
        raise SpecError(f"sensitivity ranks int8 nodes, not {precision}", fix="use int8-dynamic or int8-static")
    prepared = prepare(spec)
    if precision == "int8-static" and prepared.calibration is None:
        raise SpecError("int8-static needs a calibration set: add calibration.path")
    reference_path, _ = export_reference(spec, prepared, stages_for(spec, Path(out or spec.output), True, on_event))
    settings = with_reduce_range(get_profile("x86-cpu-ort"), spec.quantize)  # the ranking runs on ORT's CPU
    feeds = (prepared.calibration or prepared.evaluation).head(settings.fallback.sensitivity_examples)
    with tempfile.TemporaryDirectory() as tmp:
        graph, quantized = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        fused = quantize.float_graph(precision, reference_path, graph, prepared.io.family)
        if precision == "int8-dynamic":
            quantize.make_int8_dynamic(graph, quantized, fused, settings.dynamic)
        else:
            assert prepared.calibration is not None
            quantize.make_int8_static(graph, quantized, prepared.calibration, settings.static)
        return rank_nodes(graph, quantized, quantize.candidates(precision, graph, settings), feeds)
