"""Per-example evidence from a build folder, for the figures report.json holds only as totals.

Each figure is recomputed from what the verify stage kept (``verify/<row>/outputs.npz`` beside the reference's,
``data/eval.npz`` and the labelled boxes or masks in ``data/eval-targets.npz``) by the build's own code:
verify/detection.py's decoding and COCO mAP, verify/segmentation.py's confusion matrices, verify/fidelity.py's
per-example terms, the custom metric function itself. A ``Figures`` can then say what the figures are over any
resample of the examples, which is what the bootstrap in compare/stats.py needs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.compare.load import Key, Side
from edgeconv.compare.stats import Statistic
from edgeconv.data.feeds import LABELS_KEY, TARGETS_FILE, load_targets

SNR_CEILING_DB = 60.0  # above this both are float rounding: an exact output and one at 90 dB are not a change
Metric = Callable[[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray | None], float]


@dataclass
class Figures:
    """Some figures of one row of one build: their names, the examples, and the figures over a resample."""

    names: list[str]
    n: int
    statistic: Statistic
    digest: str  # of everything they are computed from: equal digests give equal figures on every resample
    costly: bool = False  # a resample costs milliseconds (COCO evaluation, user code): fewer resamples
    how: str = ""


class Evidence:
    """One build folder's per-example evidence, loaded when first asked for."""

    def __init__(self, side: Side, metric: Metric | None = None) -> None:
        self.side, self.metric = side, metric
        self.folder = side.build_dir
        self._outputs: dict[Key, dict[str, np.ndarray] | None] = {}

    def eval_digest(self) -> str | None:
        """The evaluation feeds' content (equal: the same examples in the same order, so pairing is valid)."""
        path = self.folder / "data" / "eval.npz" if self.folder else None
        return _digest_file(path) if path is not None and path.is_file() else None

    def outputs(self, key: Key) -> dict[str, np.ndarray] | None:
        if key not in self._outputs:
            from edgeconv.verify.measure import load_outputs, verify_stage

            stage = "reference" if key == REFERENCE else verify_stage(*key)
            folder = self.folder / "verify" / stage if self.folder else None
            self._outputs[key] = load_outputs(folder) if folder and (folder / "outputs.npz").is_file() else None
        return self._outputs[key]

    def _pair(self, key: Key) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | str:
        if self.folder is None:
            return "report.json alone holds no per-example outputs (pass the build folders)"
        mine, reference = self.outputs(key), self.outputs(REFERENCE)
        if mine is None or reference is None:
            return f"{self.folder} keeps no verify outputs.npz for {'/'.join(key)} or its reference"
        return mine, reference

    def _settings(self, task: str, key: Key) -> tuple[dict[str, Any], tuple[dict, dict]] | str:
        """The task's settings as report.json records them, and the row's and the reference's outputs."""
        settings, pair = self.side.report.get("evaluation", {}).get(task), self._pair(key)
        if settings is None:
            return f"report.json does not record how its {task} outputs are read (built before compare scored them)"
        return pair if isinstance(pair, str) else (settings, pair)

    def targets(self) -> list[dict[str, Any]] | None:
        path = self.folder / "data" / TARGETS_FILE if self.folder else None
        return load_targets(path) if path is not None and path.is_file() else None

    def labels(self) -> np.ndarray | None:
        path = self.folder / "data" / "eval.npz" if self.folder else None
        if path is None or not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data[LABELS_KEY]) if LABELS_KEY in data.files else None

    def fidelity(self, key: Key, output: str, atol: float, rtol: float) -> Figures | str:
        """cosine (mean over examples), SNR (whole set, ceiling SNR_CEILING_DB) and share within atol + rtol."""
        from edgeconv.verify.fidelity import example_terms, matched_outputs, snr_db

        pair = self._pair(key)
        if isinstance(pair, str):
            return pair
        found = {name: (a, r, real) for name, a, r, real in matched_outputs(pair[0], pair[1])}
        if output not in found:
            return f"output '{output}' is not compared element by element in {self.folder}"
        terms = example_terms(*found[output][:2], atol, rtol, found[output][2])
        n = len(terms["cosine"])

        def statistic(idx: np.ndarray) -> np.ndarray:
            w = np.bincount(idx, minlength=n).astype(np.float64)
            signal, noise, elements = w @ terms["signal"], w @ terms["noise"], w @ terms["elements"]
            snr = min(snr_db(float(signal), float(noise)), SNR_CEILING_DB)
            return np.array([w @ terms["cosine"] / w.sum(), snr, w @ terms["within"] / elements if elements else 1.0])

        return Figures([f"cosine[{output}]", f"snr_db[{output}]", f"within_tolerance[{output}]"], n, statistic,
                       _digest(*found[output][:2], atol, rtol))

    def detection(self, key: Key) -> Figures | str:
        """mAP@0.5:0.95 and @0.5 against the reference's boxes (and the labelled boxes when the folder keeps them),
        over images."""
        from edgeconv.spec import DetectionSpec
        from edgeconv.verify.detection import Detections, coco_map
        from edgeconv.verify.measure import decode_detections

        found = self._settings("detection", key)
        if isinstance(found, str):
            return found
        settings, pair = found
        spec = DetectionSpec.model_validate(settings)
        truth = decode_detections(spec, pair[1], None, spec.score_threshold)
        ranked = decode_detections(spec, pair[0], None, spec.map_score_threshold)
        versus_found = truth if key == REFERENCE else ranked  # the reference scores 1.0 on its own boxes
        targets = self.targets()
        labelled = None if targets is None else [Detections(t["boxes"], np.ones(len(t["boxes"])), t["classes"])
                                                 for t in targets]

        def statistic(idx: np.ndarray) -> np.ndarray:
            versus = coco_map([truth[i] for i in idx], [versus_found[i] for i in idx])
            figures = [versus["map50_95"], versus["map50"]]
            if labelled is not None:
                against = coco_map([labelled[i] for i in idx], [ranked[i] for i in idx])
                figures += [against["map50_95"], against["map50"]]
            return np.array(figures)

        names = ["map50_95_vs_reference", "map50_vs_reference"] + (["map50_95", "map50"] if labelled else [])
        return Figures(names, len(ranked), statistic, _digest(*pair[0].values(), *pair[1].values(), settings,
                                                              *(t["boxes"] for t in targets or [])), costly=True)

    def segmentation(self, key: Key) -> Figures | str:
        """mIoU against the reference's pixels (and the label masks when the folder keeps them), over images."""
        from edgeconv.spec import SegmentationSpec
        from edgeconv.verify.measure import output_rows
        from edgeconv.verify.segmentation import class_count, class_map, confusion, figures_of, per_image_confusions

        found = self._settings("segmentation", key)
        if isinstance(found, str):
            return found
        settings, pair = found
        spec = SegmentationSpec.model_validate(settings)
        mine, theirs = output_rows(spec.output, pair[0], None), output_rows(spec.output, pair[1], None)
        matrices = [per_image_confusions(spec, mine, theirs)]
        targets = self.targets()
        if targets is not None:
            matrices.append(np.stack([confusion(t["mask"], class_map(np.asarray(m)[None], spec)[0], class_count(mine),
                                                spec.ignore_index) for m, t in zip(mine, targets, strict=True)]))
        n = len(mine)

        def statistic(idx: np.ndarray) -> np.ndarray:
            w = np.bincount(idx, minlength=n)
            return np.array([figures_of(np.tensordot(w, m, axes=1))["miou"] for m in matrices])

        names = ["miou_vs_reference"] + (["miou"] if targets is not None else [])
        return Figures(names, n, statistic, _digest(*matrices, settings))

    def task_metric(self, key: Key, name: str) -> Figures | str:
        """macro-F1 from the first output and the labels, or the custom metric function over examples."""
        pair = self._pair(key)
        if isinstance(pair, str):
            return pair
        labels = self.labels()
        if name == "macro_f1":
            from edgeconv.verify.metrics import classification_metrics

            if labels is None:
                return "the evaluation set has no labels (data/eval.npz holds no __labels__)"
            first, names = next(iter(pair[0].values())), self.side.report["evaluation"].get("labels") or []
            return Figures([name], len(labels), lambda idx: np.array(
                [classification_metrics(first[idx], labels[idx], names)["macro_f1"]]), _digest(first, labels))
        if self.metric is None:
            return (f"evaluation.metric '{name}' is user code: pass --spec (with evaluation.trust_code: true) to "
                    "recompute it per example")
        return _custom(self.metric, name, pair[0], pair[1], labels)


REFERENCE: Key = ("reference", "fp32")


def _custom(fn: Metric, name: str, mine: dict[str, np.ndarray], reference: dict[str, np.ndarray],
            labels: np.ndarray | None) -> Figures | str:
    """The user's metric over a resample: per example when it is a mean of per-example values (checked: the mean
    of its value on each example alone equals its value on the set), else recomputed on each resample."""
    n = len(next(iter(mine.values())))

    def call(idx: np.ndarray) -> float:
        return float(fn({k: v[idx] for k, v in mine.items()}, {k: v[idx] for k, v in reference.items()},
                        None if labels is None else labels[idx]))

    try:
        whole = call(np.arange(n))
    except Exception as exc:  # the user's code: any failure is a reason, not a crash
        why = " (the evaluation set has no labels)" if labels is None else ""
        return f"evaluation.metric '{name}' raised {type(exc).__name__}: {exc}{why}"
    digest = _digest(*mine.values(), *reference.values(), labels if labels is not None else 0)
    try:
        each = np.array([call(np.array([i])) for i in range(n)])
    except Exception:  # not defined on one example (a set-level metric): resample the set instead
        each = None
    if each is not None and np.all(np.isfinite(each)) and math.isclose(each.mean(), whole, rel_tol=1e-6,
                                                                          abs_tol=1e-9):
        return Figures([name], n, lambda idx: np.array([each[idx].mean()]), digest,
                       how="per-example values (the metric is their mean)")
    return Figures([name], n, lambda idx: np.array([call(idx)]), digest, costly=True,
                   how="the metric recomputed on each resample (not a mean of per-example values)")


def _digest(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()


def _digest_file(path: Path) -> str:
    from edgeconv.fsutil import sha256_file

    return sha256_file(path)
