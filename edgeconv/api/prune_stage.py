"""The build's prune stages: prune (+ distil) the torch model, then export the pruned model to ONNX.

``prune`` writes the pruned weights and their shapes (pruned_io); ``export-pruned`` exports them
with the same parity check as the reference. Both are cached stages keyed by their inputs, so a
re-run with an unchanged spec reuses the (slow) distillation. The unpruned fp32 export stays the
build's reference: every pruned artifact is measured against it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconv import versions
from edgeconv.cache.stages import Stages
from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError
from edgeconv.export.parity import PARITY_FIGURES
from edgeconv.fsutil import sha256_file, sha256_tree
from edgeconv.spec import PruneSpec, Spec

if TYPE_CHECKING:
    from edgeconv.api.prepare import Prepared
    from edgeconv.models.loaded import LoadedModel

VERSIONS = ("torch", "transformers", "peft", "torch_pruning", "onnx")


@dataclasses.dataclass
class PrunedModel:
    onnx: Path
    sha256: str
    record: dict[str, Any]  # PruneRecord.to_dict() + recovery + the export's facts
    torch_model: Callable[[], LoadedModel]  # the pruned torch model itself, for backends that convert from torch
    weights_sha256: str  # what the pruned torch model's weights hash to: it keys their stages


def pruned_reference(spec: Spec, prune: PruneSpec, prepared: Prepared, stages: Stages,
                     torch_model: Callable[[], LoadedModel]) -> PrunedModel:
    """Prune (cached), export (cached): the fp32 ONNX the backends build the pruned artifacts from."""
    train = _train_feeds(spec, prune, prepared)
    key = {
        "model": spec.model.model_dump(exclude={"text"}, mode="json"), "sources": prepared.io.source_sha256,
        "prune": prune.model_dump(mode="json"), "train": _feeds_sha(train), "calib": prepared.calib_sha256,
        "versions": {p: versions.of(p) for p in VERSIONS},
    }
    folder, meta = stages.run("prune", key, lambda tmp: _prune(tmp, prune, prepared, train, torch_model))
    export_key = {"pruned": meta["weights_sha256"], "structure": sha256_tree(folder / "structure.json"),
                  "export": spec.export.model_dump(), "eval": prepared.eval_sha256, "parity": PARITY_FIGURES,
                  "versions": {p: versions.of(p) for p in VERSIONS}}
    out_folder, out_meta = stages.run("export-pruned", export_key,
                                      lambda tmp: _export(tmp, spec, prune, prepared, folder, torch_model,
                                                          meta["record"]["layers"]))
    path = out_folder / out_meta["file"]
    return PrunedModel(path, sha256_file(path), {**meta["record"], **out_meta["facts"]},
                       pruned_loader(torch_model, folder), meta["weights_sha256"])


def pruned_loader(torch_model: Callable[[], LoadedModel], folder: Path) -> Callable[[], LoadedModel]:
    """The pruned torch model (weights and shapes from the prune stage's folder), loaded on first use and kept:
    what the LiteRT route converts, so a pruned build's every runtime gets the pruned model."""
    from functools import cache

    def load() -> LoadedModel:
        from edgeconv.compress.pruned_io import load_pruned

        loaded = torch_model()
        return dataclasses.replace(loaded, module=load_pruned(copy.deepcopy(loaded.module), folder))

    return cache(load)


def _train_feeds(spec: Spec, prune: PruneSpec, prepared: Prepared) -> FeedSet | None:
    if prune.recover is None:
        return None
    from edgeconv.data import make_feeds

    ds = prune.recover.train
    return make_feeds(ds, "training", prepared.io.inputs, prepared.io.labels, spec.text_for(ds),
                      prepared.io.preprocessor)


def _feeds_sha(feeds: FeedSet | None) -> str | None:
    from edgeconv.api.prepare import feeds_sha256

    return feeds_sha256(feeds) if feeds is not None else None


def _args(feeds: FeedSet, names: list[str], n: int) -> tuple[Any, ...]:
    import torch

    return tuple(torch.from_numpy(feeds.inputs[name][:n]) for name in names)


def _prune(folder: Path, prune: PruneSpec, prepared: Prepared, train: FeedSet | None,
           torch_model: Callable[[], LoadedModel]) -> dict[str, Any]:
    from edgeconv.compress.distill import distill, student_teacher_gap
    from edgeconv.compress.prune import prune_model
    from edgeconv.compress.pruned_io import WEIGHTS, save_pruned

    loaded = torch_model()
    names = [t.name for t in loaded.inputs]
    student = copy.deepcopy(loaded.module)
    # Tracing only needs shapes; Taylor importance and drop_blocks need real examples, never the evaluation set.
    example = _args(prepared.evaluation, names, 1)
    importance_feeds = prepared.calibration or train
    importance_batch = _args(importance_feeds, names, 64) if importance_feeds is not None else None
    if prune.importance == "taylor" and importance_batch is None:
        from edgeconv.errors import SpecError

        raise SpecError("prune.importance taylor needs examples to take gradients on",
                        fix="add a calibration set or prune.recover.train, or use importance l2")
    record = prune_model(student, prune, example, importance_batch)
    if prune.recover is not None and train is not None:
        probe = (prepared.calibration or train).head(64)
        gap_before = student_teacher_gap(student, loaded.module, probe, names)
        recovery = distill(student, loaded.module, train, names, prune.recover, keep_zeros=prune.mode != "structured")
        recovery["gap_before"] = gap_before
        recovery["gap_after"] = student_teacher_gap(student, loaded.module, probe, names)
        record.recover = recovery
    save_pruned(student, folder)
    return {"record": record.to_dict(), "weights_sha256": sha256_file(folder / WEIGHTS)}


def _export(folder: Path, spec: Spec, prune: PruneSpec, prepared: Prepared, pruned_folder: Path,
            torch_model: Callable[[], LoadedModel], sparsified: int) -> dict[str, Any]:
    """Export the pruned model (parity vs the pruned torch model); for 2:4, check the pattern survived."""
    from edgeconv.compress.sparsity import gzip_size, two_four_report
    from edgeconv.export import export_onnx

    out = folder / "model.onnx"
    result = export_onnx(pruned_loader(torch_model, pruned_folder)(), prepared.evaluation, out, spec.export,
                         task=spec.model.task)
    facts: dict[str, Any] = {"fp32_size_bytes": out.stat().st_size, "fp32_size_gzip_bytes": gzip_size(out),
                             "parity": result.parity}
    if prune.mode == "2:4":
        report = two_four_report(out)
        if report["weights_2_4"] < sparsified:
            raise StageError(f"the 2:4 pattern did not survive the ONNX export: {report['weights_2_4']} weights hold "
                             f"it, {sparsified} layers were sparsified",
                             fix="report this with the model type; use prune.mode unstructured meanwhile")
        facts["pattern_2_4"] = report
    return {"file": out.name, "facts": facts}


def artifact_prune_facts(record: dict[str, Any], files: list[Path], reference_path: Path) -> dict[str, Any]:
    """The ``prune`` entry of one pruned artifact in report.json: the record plus its files' sizes (an OpenVINO
    IR's weights are its .bin sidecar)."""
    from edgeconv.compress.sparsity import gzip_size, two_four_report

    path = files[0]
    facts = {**record, "size_bytes": sum(f.stat().st_size for f in files),
             "size_gzip_bytes": sum(gzip_size(f) for f in files),
             "reference_size_bytes": reference_path.stat().st_size,
             "reference_size_gzip_bytes": gzip_size(reference_path)}
    if record.get("mode") == "2:4" and path.suffix == ".onnx":
        facts["pattern_2_4"] = two_four_report(path)  # this artifact's own weights (int8 too)
    return facts
