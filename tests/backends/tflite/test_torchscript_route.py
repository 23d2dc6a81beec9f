"""A TorchScript file reaches the TFLite target: exported to the reference ONNX by the export stage, converted by
the ONNX route, verified in the LiteRT interpreter against the reference (litert-torch alone refuses a
ScriptModule: "ScriptModule has not been initialized")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeconv.cli import main

pytest.importorskip("litert_torch", reason="the TFLite route needs pip install 'edgeconv[tflite]'")

SPEC = """
name: tiny-torchscript
model:
  path: net.pt
  task: generic
  inputs: [{name: x, dtype: float32, shape: [batch, 3, 16, 16]}]
evaluation:
  path: eval.npz
targets:
  - name: arm64-tflite
    precisions: [fp32]
    threads: 1
latency: {warmup: 2, runs: 11, min_time_s: 0}
budgets:
  min_cosine: 0.9999
output: out
"""


def test_a_torchscript_file_reaches_tflite_and_is_verified_in_the_interpreter(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3, stride=2),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 5)).eval()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "net.pt"))  # a .pt that is TorchScript, told by content
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.normal(size=(4, 3, 16, 16)).astype(np.float32))
    (tmp_path / "edgeconv.yaml").write_text(SPEC)
    result = CliRunner().invoke(main, ["build", str(tmp_path / "edgeconv.yaml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    artifact = json.loads((tmp_path / "out" / "report.json").read_text())["artifacts"][0]
    assert artifact["status"] == "passed" and artifact["path"].endswith(".tflite")
    assert artifact["route"].startswith("TorchScript -> ONNX -> onnx2torch")
    assert artifact["runtime"]["runtime"] in ("ai-edge-litert", "tflite-runtime")  # run in the interpreter
    assert artifact["outputs"]["output"]["cosine_min"] > 0.9999
    assert artifact["outputs"]["output"]["max_abs_error"] < 1e-4
