"""The files that let a board run a bundle's artifact with only its runtime installed: run.py, its
requirements, edgeconv's own runner modules, the preprocessing assets and the golden set.

The golden set is the first examples of the build's evaluation set: their raw input (from ``out/device/``),
their feeds (``out/data/eval.npz``) and, for each bundled artifact, the outputs verification recorded for
them (``out/verify/<target>-<precision>/outputs.npz``), so ``run.py --check`` on the board replays exactly what
the report measured.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.api.device_assets import ASSETS, GOLDEN_RAW, PREPROCESSING
from edgeconv.data.feeds import FeedSet
from edgeconv.errors import SpecError
from edgeconv.remote.bundle import module_file
from edgeconv.results import ArtifactResult
from edgeconv.verify.measure import example_rows, load_outputs, verify_stage
from edgeconv.verify.worker import SHAPE_SUFFIX

RUN_PY = Path(__file__).with_name("device") / "run.py"
GOLDEN_FILE = "golden/golden.npz"
# What run.py imports from edgeconv besides the runner module: numpy-only files (raw_input also uses the tokenizers
# library or Pillow, which requirements.txt names), copied as they are.
ALWAYS = ("edgeconv.verify.worker", "edgeconv.backends.runner", "edgeconv.data.raw_input", "edgeconv.data.pixels")
# The runners run.py drives (the TensorRT runner needs torch for its CUDA buffers, which a bundle must not).
RUNTIMES = {"edgeconv.backends.onnxruntime.runner:OnnxRuntimeRunner", "edgeconv.backends.tflite.runner:TFLiteRunner",
            "edgeconv.backends.openvino.runner:OpenVINORunner"}


def device_assets(build_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(preprocessing recipe, golden raw inputs) the build wrote to ``out/device/``."""
    folder = build_dir / ASSETS
    if not (folder / PREPROCESSING).is_file():
        raise SpecError(f"'{build_dir}' has no {ASSETS}/{PREPROCESSING} (built by an older edgeconv)",
                        fix="rebuild it with this edgeconv, then bundle it")
    return json.loads((folder / PREPROCESSING).read_text()), json.loads((folder / GOLDEN_RAW).read_text())


def vendored(runners: set[str]) -> dict[str, bytes | Path]:
    """edgeconv's modules run.py needs, under ``pkg/`` with empty ``__init__.py`` files (the real ones import
    the rest of edgeconv)."""
    files: dict[str, bytes | Path] = {}
    for module in sorted({*ALWAYS, *(r.partition(":")[0] for r in runners)}):
        parts = module.split(".")
        files["pkg/" + "/".join(parts) + ".py"] = module_file(module)
        for i in range(1, len(parts)):
            files["pkg/" + "/".join(parts[:i]) + "/__init__.py"] = b""
    return files


def requirements(recipe: dict[str, Any], entries: list[ArtifactResult]) -> bytes:
    """requirements.txt: the runtime at the version verification ran, numpy, and the preprocessing library at
    the build's version (a different tokenizer or resize is how on-device results drift from the report)."""
    lines = ["# What run.py needs on the board (pip install -r requirements.txt): the runtime this artifact was",
             "# verified with, numpy, and the preprocessing library, at the versions the build used.",
             "# `python run.py --check` tells whether the board reproduces the verified outputs."]
    for runtime in sorted({_runtime_requirement(e) for e in entries}):
        lines.append(runtime)
    lines.append("numpy")
    if recipe["kind"] == "text":
        lines.append(f"tokenizers=={recipe['tokenizers_version']}")
    elif recipe["kind"] == "image":
        lines.append(f"pillow=={recipe['pillow_version']}")
    return ("\n".join(lines) + "\n").encode()


def _runtime_requirement(entry: ArtifactResult) -> str:
    runtime = entry.measurement.runtime if entry.measurement else {}
    name, version = runtime.get("runtime") or "", runtime.get("version") or ""
    if name == "onnxruntime" and any("CUDA" in p or "Tensorrt" in p for p in runtime.get("providers") or []):
        name = "onnxruntime-gpu"
    if not name or not version:
        raise SpecError(f"report.json does not say which runtime verified {entry.label}",
                        fix="rebuild it with this edgeconv, then bundle it")
    return f"{name}=={version}"


def runnable(entry: ArtifactResult) -> str | None:
    """Why run.py cannot run this artifact, or None when it can."""
    runner = entry.runner.runner if entry.runner else None
    if runner is None:
        return "report.json does not record its runner (built by an older edgeconv): rebuild it"
    if runner not in RUNTIMES:
        return (f"run.py runs ONNX Runtime, LiteRT and OpenVINO artifacts; this one runs in {entry.backend} "
                "(for a TensorRT engine: trtexec --loadEngine=FILE)")
    return None


def golden(build_dir: Path, recipe: dict[str, Any], raw: dict[str, Any],
           entries: list[ArtifactResult]) -> tuple[bytes, dict[str, Any]]:
    """golden.npz (feeds and verified outputs by index) and its description for metadata.json: per artifact,
    its outputs as its runtime names them (LiteRT says output_0 where the model says logits) and each one's
    tolerances, the model's output at the same place when the names differ."""
    feeds = FeedSet.load(build_dir / "data" / "eval.npz")
    count = min(int(raw["count"]), len(feeds))
    names = list(feeds.inputs)
    arrays: dict[str, np.ndarray] = {}
    for i in range(count):
        for j, value in enumerate(feeds.example(i).values()):
            arrays[f"feed.{i}.{j}"] = value
    outputs: dict[str, list[str]] = {}
    tolerances: dict[str, list[dict[str, float]]] = {}
    model_names = list(recipe["tolerances"])
    for entry in entries:
        precision = entry.precision
        folder = build_dir / "verify" / verify_stage(entry.target, precision)
        if not (folder / "outputs.npz").is_file():
            raise SpecError(f"'{folder}' holds no verified outputs of {entry.label}",
                            fix="bundle the build folder that report.json came from")
        recorded = load_outputs(folder)
        outputs[precision] = [n for n in recorded if not n.endswith(SHAPE_SUFFIX)]
        tolerances[precision] = [recipe["tolerances"].get(n) or recipe["tolerances"][model_names[min(k, len(
            model_names) - 1)]] for k, n in enumerate(outputs[precision])]
        for k, name in enumerate(outputs[precision]):
            rows = example_rows(recorded, name)
            for i in range(count):
                arrays[f"out.{precision}.{i}.{k}"] = rows[i]
    return npz_bytes(arrays), {"file": GOLDEN_FILE, "count": count, "inputs": names, "outputs": outputs,
                               "tolerances": tolerances, "raw": raw["raw"][:count]}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz numpy reads, with fixed timestamps (np.savez stamps the time: the same bundle must have the same
    bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue(),
                        compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
