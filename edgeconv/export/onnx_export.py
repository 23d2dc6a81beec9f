"""Export a loaded torch model to the fp32 ONNX "reference" and check it against torch.

We use the TorchScript-based exporter (``dynamo=False``): it writes one self-contained file for
models under 2 GB, which ONNX Runtime's quantization tooling needs, and matched torch to ~4e-8
on the sample (MEASURED.md). Models over 2 GB are re-saved with external data.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError
from edgeconv.errors.capture import native_output
from edgeconv.export.parity import parity_figures, parity_text
from edgeconv.models.loaded import LoadedModel
from edgeconv.spec import ExportSpec

PROTOBUF_LIMIT = 2 * 1024**3


@dataclass
class ExportResult:
    path: Path
    parity: dict[str, Any]  # max_abs_error, cosine, cosine_min, snr_db, exact, top1_agreement (or None), samples


def export_onnx(loaded: LoadedModel, sample: FeedSet, out: Path, spec: ExportSpec, *, task: str) -> ExportResult:
    """Write ``out`` (an .onnx file, plus ``.onnx.data`` when over 2 GB) and measure parity (the figures that
    apply to ``task``'s outputs)."""
    import onnx
    import torch

    names = [t.name for t in loaded.inputs]
    first = sample.example(0)
    args = tuple(torch.from_numpy(np.asarray(first[n])) for n in names)
    dynamic_axes = None
    if spec.dynamic_axes:
        dynamic_axes = {t.name: {i: d for i, d in enumerate(t.shape) if isinstance(d, str)} for t in loaded.inputs}
        dynamic_axes[loaded.output_name] = {0: "batch"}
    source = getattr(loaded.module, "source", loaded.module)  # a .pt2 / TorchScript file's own program
    try:
        with warnings.catch_warnings(), torch.no_grad(), native_output() as printed:
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow are expected
            if isinstance(source, torch.export.ExportedProgram):
                # An exported program carries its own (static or symbolic) shapes: the dynamo exporter
                # takes it as it is; it writes external data, folded back into one file below.
                with contextlib.redirect_stdout(io.StringIO()):  # its progress lines are not ours to print
                    program = torch.onnx.export(source, args, input_names=names,
                                                output_names=[loaded.output_name], opset_version=spec.opset,
                                                dynamo=True)
                program.save(str(out))
            else:
                torch.onnx.export(
                    source, args, str(out), input_names=names, output_names=[loaded.output_name],
                    dynamic_axes=dynamic_axes, opset_version=spec.opset, dynamo=False, do_constant_folding=True,
                )
    except Exception as exc:  # the exporter raises many types; all mean "this model did not export"
        error = StageError(f"export to ONNX failed: {str(exc).strip().splitlines()[0][:300]}",
                           fix="try another export.opset, or export the model yourself and give the .onnx")
        error.details = f"{exc}\n--- exporter output ---\n{printed.text}"  # type: ignore[attr-defined]  # the log
        raise error from exc
    model = onnx.load(str(out))
    sidecar = out.with_name(out.name + ".data")
    if model.ByteSize() > PROTOBUF_LIMIT:
        onnx.save_model(model, str(out), save_as_external_data=True, location=sidecar.name)
    elif sidecar.exists():  # one self-contained file, which ORT's quantization tooling needs
        onnx.save_model(model, str(out))
        sidecar.unlink()
    try:
        parity = check_parity(loaded, sample.head(spec.parity_samples), out, task)
    except (RuntimeError, AssertionError) as exc:  # e.g. a .pt2 fixed to one batch size (a guard fails)
        raise StageError(f"the model refused the evaluation inputs: {str(exc).strip().splitlines()[0]}",
                         fix="export the .pt2 with a dynamic batch (torch.export.Dim), or match model.inputs "
                             "to its fixed shapes") from exc
    if parity["max_abs_error"] > spec.parity_atol:
        raise StageError(
            f"the ONNX export differs from torch by {parity['max_abs_error']:.2e} (> export.parity_atol "
            f"{spec.parity_atol:g}); {parity_text(parity)}",
            fix="try another export.opset, or raise export.parity_atol if the difference is expected",
        )
    return ExportResult(out, parity)


def torch_outputs(loaded: LoadedModel, feeds: FeedSet, batch_size: int = 16) -> np.ndarray:
    import torch

    names = [t.name for t in loaded.inputs]
    outs = []
    with torch.no_grad():
        for batch in feeds.batches(1 if feeds.unbatched else batch_size):
            outs.append(loaded.module(*(torch.from_numpy(batch[n]) for n in names)).numpy())
    return np.concatenate(outs)


def check_parity(loaded: LoadedModel, feeds: FeedSet, onnx_path: Path, task: str) -> dict[str, Any]:
    """ONNX Runtime (CPU) against torch on real inputs: ``parity_figures`` for ``task``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [t.name for t in loaded.inputs]
    expected = torch_outputs(loaded, feeds)
    got = np.concatenate([session.run(None, {n: b[n] for n in names})[0]
                          for b in feeds.batches(1 if feeds.unbatched else 16)])
    return {**parity_figures(expected, got, task), "samples": len(feeds)}
