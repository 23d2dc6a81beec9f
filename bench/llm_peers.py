"""The hand-made peers of bench/llm.py: each runtime's int4 made from the fine-tuned model's Hugging Face folder
exactly as that runtime's docs tell a user (their commands, their defaults), run as its docs run it.

- ONNX Runtime GenAI: ``python -m onnxruntime_genai.models.builder -m <hf> -o <dir> -p int4 -e cpu``.
- OpenVINO: ``optimum-cli export openvino --model <hf> --task text-generation-with-past --weight-format int4
  --group-size-fallback adjust <dir>`` (optimum-intel's environment). Each flag is what the error without it
  tells the user: optimum-intel 2.2 refuses a local folder without ``--task`` ("Cannot infer the task from a
  local directory yet"), and NNCF refuses its default group size 128 on SmolLM2's width 576
  ("InvalidGroupSizeError ... consider setting group_size_fallback_mode to IGNORE or ADJUST").
  run by ``openvino_genai.LLMPipeline`` with the CPU plugin's defaults: bf16 activations on an AMX CPU.
- llama.cpp: ``convert_hf_to_gguf.py`` then ``llama-quantize ... Q4_K_M`` (bench/llm_llamacpp.py).

A peer that cannot be made here is a row with the reason instead of figures: the bench never stops for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.verify.generation import GenerationRunner


@dataclass
class Peer:
    """A hand-made artifact: its row name, path, how it was made, and its runner (None: the reason says why)."""

    name: str
    command: str
    path: Path | None = None
    runner: GenerationRunner | None = None
    build_s: float | None = None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


def _made(out: Path, command: list[str], log: Path, env: dict[str, str] | None = None) -> float | None:
    """Run a maker into a temporary folder beside ``out``, then rename it into place; the log says why it failed.
    Returns the seconds it took, or None when ``out`` exists from an earlier run with the same ``--work``."""
    if out.exists():
        return None
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with log.open("w") as sink:
            done = subprocess.run([*command, str(work / "model")], cwd=work, stdout=sink, stderr=subprocess.STDOUT,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, check=False)
        if done.returncode != 0:
            last = [x for x in log.read_text(errors="replace").splitlines() if x.strip()][-1:]
            raise RuntimeError(f"exit {done.returncode}: {last[0][:300] if last else ''} (log: {log})")
        os.replace(work / "model", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return time.perf_counter() - start


def ort_genai(hf: Path, work: Path, threads: int) -> Peer:
    from edgeconv.backends.onnxruntime_genai.runner import GenaiRunner

    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-m", str(hf), "-p", "int4", "-e", "cpu",
               "-o"]
    peer = Peer("peer: ort-genai int4 (builder defaults)", "python -m onnxruntime_genai.models.builder -m <hf> "
                "-o <dir> -p int4 -e cpu")
    peer.build_s = _made(work / "ort-genai-int4", command, work / "ort-genai-int4.log")
    peer.path = work / "ort-genai-int4"
    peer.runner = GenaiRunner(str(peer.path), threads=threads)
    return peer


def openvino(hf: Path, work: Path, threads: int, optimum_env: Path | None) -> Peer:
    from edgeconv.backends.openvino_genai import env
    from edgeconv.backends.openvino_genai.runner import OpenVINOGenaiRunner

    peer = Peer("peer: openvino-genai int4 (optimum-cli, g128 adjusted; bf16 activations)",
                "optimum-cli export openvino --model <hf> --task text-generation-with-past --weight-format int4 "
                "--group-size-fallback adjust <dir>")
    if optimum_env is not None:
        os.environ["EDGECONV_OPTIMUM_ENV"] = str(optimum_env)
    cli = env.optimum_cli() if optimum_env is not None else env.ensure_env()
    command = [*cli, "export", "openvino", "--model", str(hf), "--task", "text-generation-with-past",
               "--weight-format", "int4", "--group-size-fallback", "adjust"]
    peer.build_s = _made(work / "openvino-int4", command, work / "openvino-int4.log")
    peer.path = work / "openvino-int4"
    # inference_precision None: the CPU plugin's own default, as LLMPipeline(path, "CPU") runs it (bf16 on AMX)
    peer.runner = OpenVINOGenaiRunner(str(peer.path), threads=threads, inference_precision=None)
    return peer


def saved_pretrained(hf: Path, out: Path) -> Path:
    """The fine-tuned model as a user's ``save_pretrained`` writes it: edgeconv's reference folder (safetensors
    ``save_model``) keeps the tied embedding only as ``lm_head.weight``, which transformers reads but llama.cpp's
    converter does not ("check_tensor_dims: tensor 'token_embd.weight' not found" when the GGUF loads)."""
    if not out.exists():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        AutoModelForCausalLM.from_pretrained(hf).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(hf).save_pretrained(tmp)
        os.replace(tmp, out)
    return out


def llama_cpp(hf: Path, work: Path, threads: int) -> Peer:
    from llm_llamacpp import LlamaCppRunner, make_q4_k_m

    # LLAMA_CPP_REPACK=1: a library built without AMX (GGML_NATIVE=OFF, AVX-512 VNNI on, AMX off) keeps llama.cpp's
    # CPU repacking, its default fast path; else --no-repack: with its default extra buffer types, llama.cpp
    # 0.3.36's AMX kernel segfaults in the first decode on an AMX machine (gdb: ggml_backend_amx_mul_mat)
    repack = os.environ.get("LLAMA_CPP_REPACK") == "1"
    peer = Peer(f"peer: llama.cpp Q4_K_M ({'repack, no AMX' if repack else '--no-repack'})",
                "python convert_hf_to_gguf.py <hf> --outfile f.gguf; llama-quantize f.gguf q.gguf Q4_K_M (or the "
                "same llama_model_quantize through llama-cpp-python)")
    peer.path = work / "llama-cpp" / "model-Q4_K_M.gguf"
    if not peer.path.is_file():  # else made by an earlier run with the same --work
        start = time.perf_counter()
        make_q4_k_m(saved_pretrained(hf, work / "hf-save_pretrained"), work / "llama-cpp", work / "llama-cpp.log")
        peer.build_s = time.perf_counter() - start
    peer.runner = LlamaCppRunner(str(peer.path), threads=threads, repack=repack)
    return peer


def make_peers(hf: Path, work: Path, threads: int, which: list[str], optimum_env: Path | None) -> list[Peer]:
    """Every peer in ``which`` (ort-genai, openvino, llama.cpp); one that fails is kept with its reason."""
    makers: dict[str, Any] = {"ort-genai": lambda: ort_genai(hf, work, threads),
                              "openvino": lambda: openvino(hf, work, threads, optimum_env),
                              "llama.cpp": lambda: llama_cpp(hf, work, threads)}
    peers = []
    for name in which:
        try:
            peers.append(makers[name]())
        except Exception as exc:  # a peer that cannot be made here is reported, not fatal
            peers.append(Peer(f"peer: {name}", "", reason=f"{type(exc).__name__}: {exc}"))
        print(f"made {peers[-1].name}: {peers[-1].reason or peers[-1].path}", flush=True)
    return peers
