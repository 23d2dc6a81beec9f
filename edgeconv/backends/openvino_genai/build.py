"""Build an OpenVINO GenAI artifact: optimum-intel's stateful IR (KV cache as state), weights compressed by NNCF.

The fp32 IR is exported once from the reference's Hugging Face folder by ``optimum-cli export openvino``
(in optimum-intel's own environment, see env.py); each precision is then NNCF's ``compress_weights`` on
that IR in edgeconv's environment: int8 (per channel) or int4 with a group size, symmetric or not, over a
share of the layers (``ratio``; the rest int8). NNCF keeps the embedding and the last MatMul (lm_head)
at int8 unless ``all_layers``; the graph is read back afterwards so the report names what each weight is.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgeconv.backends.openvino_genai.env import ensure_env
from edgeconv.errors import StageError

IR = "openvino_model.xml"


@dataclass(frozen=True)
class OpenVINORecipe:
    precision: Literal["fp32", "int8", "int4"] = "int4"
    group_size: int = 64  # int4 only; -1: per channel
    symmetric: bool = True
    ratio: float = 1.0  # share of the int4-eligible layers at int4 (the rest int8)
    all_layers: bool = False  # also the embedding and lm_head at int4 (NNCF's default keeps them int8)
    awq: bool = False  # data-aware: activation-aware scales, on the calibration texts
    scale_estimation: bool = False  # data-aware: scales fitted to the layer's outputs on the calibration texts

    @property
    def data_aware(self) -> bool:
        """AWQ / scale estimation asked for, on an int4 recipe (NNCF's int8 modes take neither)."""
        return self.precision == "int4" and (self.awq or self.scale_estimation)

    def nncf_arguments(self) -> dict[str, Any]:
        """compress_weights' arguments (recorded with the artifact)."""
        if self.precision == "int8":
            return {"mode": "INT8_SYM" if self.symmetric else "INT8_ASYM"}
        arguments: dict[str, Any] = {"mode": "INT4_SYM" if self.symmetric else "INT4_ASYM",
                                     "group_size": self.group_size, "ratio": self.ratio, "all_layers": self.all_layers}
        if self.data_aware:
            arguments |= {"awq": self.awq, "scale_estimation": self.scale_estimation}
        return arguments


@dataclass
class OpenVINOArtifact:
    folder: Path
    recipe: OpenVINORecipe
    arguments: dict[str, Any]
    build_s: float
    size_bytes: int
    weights: dict[str, int] = field(default_factory=dict)  # element type -> how many weight constants
    kept_float: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "folder": str(self.folder)}


def export_ir(hf_folder: Path, out: Path, timeout_s: float = 1800) -> Path:
    """The fp32 stateful IR of a Hugging Face folder (optimum-cli in its environment), renamed into ``out``."""
    command = [*ensure_env(), "export", "openvino", "--model", str(hf_folder), "--task", "text-generation-with-past",
               "--weight-format", "fp32"]
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    log = out.parent / f"{out.name}.export.log"
    try:
        with log.open("w", encoding="utf-8") as sink:
            done = subprocess.run([*command, str(work / "ir")], stdout=sink, stderr=subprocess.STDOUT, check=False,
                                  timeout=timeout_s, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if done.returncode != 0 or not (work / "ir" / IR).is_file():
            lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
            raise StageError(f"optimum-intel export failed: {lines[-1][:300] if lines else done.returncode}",
                             fix=f"see {log}")
        if out.exists():
            shutil.rmtree(out)
        os.replace(work / "ir", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def build_openvino(fp32_ir: Path, out: Path, recipe: OpenVINORecipe,
                   calibration: list[list[int]] | None = None) -> OpenVINOArtifact:
    """Compress the fp32 IR's weights with NNCF into ``out`` (tokenizer IRs and configs copied).

    A data-aware recipe (AWQ, scale estimation) runs the model on ``calibration`` (token id sequences: the
    spec's calibration texts), each as one prefill of the stateful IR.
    """
    if recipe.data_aware and not calibration:
        raise StageError("AWQ / scale estimation need calibration texts", fix="give the spec a calibration set")
    import nncf
    import openvino as ov

    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    arguments = recipe.nncf_arguments() if recipe.precision != "fp32" else {}
    try:
        for item in fp32_ir.iterdir():
            if item.is_file() and not item.name.startswith("openvino_model."):
                shutil.copy2(item, work / item.name)
        model = ov.Core().read_model(str(fp32_ir / IR))
        if arguments:
            kwargs = {k: v for k, v in arguments.items() if k != "mode"}
            if recipe.data_aware:
                kwargs["dataset"] = nncf.Dataset([_prefill_inputs(ids) for ids in calibration or []])
                kwargs["subset_size"] = len(calibration or [])  # every text given (NNCF's default: at most 128)
            nncf_log = logging.getLogger("nncf")
            level = nncf_log.level
            nncf_log.setLevel(logging.WARNING)  # its bit-width table: the report names each weight (describe_weights)
            try:
                model = nncf.compress_weights(model, mode=getattr(nncf.CompressWeightsMode, arguments["mode"]),
                                              **kwargs)
            finally:
                nncf_log.setLevel(level)
        ov.save_model(model, str(work / IR), compress_to_fp16=False)
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    weights, kept_float = describe_weights(out / IR)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file() and p.name.startswith("openvino_model."))
    return OpenVINOArtifact(folder=out, recipe=recipe, arguments=arguments, build_s=time.perf_counter() - start,
                            size_bytes=size, weights=weights, kept_float=kept_float)


def _prefill_inputs(ids: list[int]) -> dict[str, Any]:
    """One calibration sequence as the stateful IR's inputs (a prefill from an empty KV cache)."""
    import numpy as np

    n = len(ids)
    return {"input_ids": np.asarray([ids], dtype=np.int64), "attention_mask": np.ones((1, n), dtype=np.int64),
            "position_ids": np.arange(n, dtype=np.int64)[None], "beam_idx": np.zeros(1, dtype=np.int32)}


def describe_weights(xml: Path) -> tuple[dict[str, int], list[str]]:
    """Weight constants by element type, and the large float ones by name (weights left uncompressed)."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    counts: dict[str, int] = {}
    kept_float: list[str] = []
    for op in model.get_ops():
        if op.get_type_name() != "Constant" or len(op.get_output_partial_shape(0)) < 2:
            continue
        shape = op.get_output_shape(0)
        size = 1
        for d in shape:
            size *= d
        if size < 4096:
            continue
        kind = op.get_output_element_type(0).get_type_name()
        counts[kind] = counts.get(kind, 0) + 1
        if kind in ("f32", "f16", "bf16") and not op.get_friendly_name().endswith(("scale", "zero_point")):
            kept_float.append(op.get_friendly_name())
    return counts, kept_float
