"""The ONNX -> TFLite route for models given as ONNX files: onnx2torch, then litert-torch, in a worker.

Chosen by measurement on this project's machines (BENCHMARKS.md, "ONNX -> TFLite"): onnx2torch ->
litert-torch converted all four ONNX image models of the zoo (PaddleOCR classifier, detector and
recogniser, YOLOv8n) with outputs within 3.4e-4 of ONNX Runtime, in the same torch and litert-torch the
torch route uses; onnx2tf 1.29 (the last for Python 3.11) needs TensorFlow in a 2.6 GB environment of its
own and failed on the classifier. The float flatbuffer it writes is quantized and verified like any
other TFLite artifact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.backends.tflite.onnx_route_env import ensure_route
from edgeconv.data.feeds import FeedSet
from edgeconv.errors import StageError

TIMEOUT_S = 1800

# What a failed worker says, and the fix to print (the first pattern that matches).
_KNOWN = (
    (re.compile(r"no converter for ONNX op\(s\) (?P<op>[\w., ]*\b(?:If|Loop|Scan)\b[\w., ]*)"),
     "ONNX op(s) {op}: control flow whose branch is chosen at run time by an input's value, which a static "
     "TFLite graph cannot hold: export the model with that branch fixed (for Silero VAD: silero_vad_16k_op15.onnx "
     "instead of the If-wrapped op18 file), or build it for an ONNX Runtime target"),
    (re.compile(r"no converter for ONNX op\(s\) (?P<op>[\w., ]+)"),
     "onnx2torch has no converter for ONNX op(s) {op}: build this model for an ONNX Runtime target, or give "
     "model.path as the torch model for the TFLite target"),
    (re.compile(r"(?P<op>\w+ with [^\n]*) has no torch.nn equivalent"),
     "{op} cannot be converted: export the model without it, or build it for an ONNX Runtime target"),
    (re.compile(r"Lowering not found: (?P<op>[\w.:]+)"),
     "litert-torch cannot lower {op}: build this model for an ONNX Runtime target"),
    (re.compile(r"depend on the input's values"),
     "the model's shapes follow its input values; the TFLite route converts at static shapes: build it for an "
     "ONNX Runtime target"),
)


def convert_onnx(onnx_path: Path, feeds: FeedSet, dst: Path) -> dict[str, Any]:
    """Write the float TFLite flatbuffer of ``onnx_path`` at the feeds' shapes (batch 1) to ``dst``."""
    route = ensure_route()
    with tempfile.TemporaryDirectory(prefix="edgeconv-onnx-tflite-") as tmp:
        work = Path(tmp)
        examples = {name: np.stack([feeds.example(i)[name] for i in range(min(2, len(feeds)))])
                    for name in feeds.inputs}
        np.savez(work / "examples.npz", **examples)
        env = dict(os.environ)
        if route is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(route), env.get("PYTHONPATH", "")) if p)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "edgeconv.backends.tflite.onnx_route_worker", str(onnx_path),
                 str(work / "examples.npz"), str(work / "model.tflite"), str(work / "result.json")],
                capture_output=True, text=True, env=env, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise StageError(f"tflite: the ONNX -> TFLite conversion ran over {TIMEOUT_S} s",
                             fix="build this model for an ONNX Runtime target") from exc
        if proc.returncode != 0:
            raise _failure(proc)
        shutil.move(work / "model.tflite", dst)
        return json.loads((work / "result.json").read_text())


def _failure(proc: subprocess.CompletedProcess[str]) -> StageError:
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else f"the worker exited with status {proc.returncode}"
    fix = "run with --debug, or build this model for an ONNX Runtime target"
    for pattern, text in _KNOWN:
        found = pattern.search(proc.stderr)
        if found:
            fix = text.format(**found.groupdict())
            break
    error = StageError(f"tflite: ONNX -> TFLite conversion failed: {last[:300]}", fix=fix)
    error.details = proc.stderr  # type: ignore[attr-defined]  # the whole worker output goes to the stage's log
    return error
