"""Step 2 of the route: Edge-LLM's own exporter turns the quantized checkpoint into the ONNX folder ``llm_build``
reads, run as its CLI in a subprocess (log to a file, output renamed into place).

Not replaced by torch's exporter: the graph Edge-LLM's builder and runtime take is the vendor's, not a plain
decoder's. Its inputs are ``inputs_embeds`` (the embedding is looked up by the runtime from
``embedding.safetensors``), a paged KV pool per layer ``past_key_values_<i>`` [2, pages, 128, kv_heads,
head_dim] with ``kv_page_table``, ``kvcache_start_index``, ``context_lengths``, ``rope_rotary_cos_sin`` and
``last_token_ids``, and attention is its ``AttentionPlugin`` custom op (tensorrt_edgellm/onnx/export.py).
A hand-written copy would be an untestable imitation of that contract, so without the exporter this step
refuses with where to get it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from edgeconv import versions
from edgeconv.errors import RuntimeUnavailable, StageError
from edgeconv.fsutil import atomic_path

EXPORTER = "tensorrt-edgellm-export"
HOW_TO_GET = ("TensorRT Edge-LLM's exporter is not on PyPI: `pip install .` in a clone of "
              "github.com/NVIDIA/TensorRT-Edge-LLM (x86-64 host or Jetson Thor), then `tensorrt-edgellm-export` "
              "is on PATH")
LLM_SUBDIR = "llm"  # where the exporter writes the language model (model.onnx, config, embedding, tokenizer)
REQUIRED = ("model.onnx", "config.json")


def exporter_path() -> str | None:
    return shutil.which(EXPORTER)


def exporter_version() -> str | None:
    """The installed tensorrt_edgellm's version (a stage key: another exporter writes another graph)."""
    return versions.of("tensorrt_edgellm")


def export_argv(checkpoint: Path, out: Path, exporter: str = EXPORTER) -> list[str]:
    """The vendor's command (tensorrt_edgellm/scripts/export.py): checkpoint and output folder, fp16."""
    return [exporter, str(checkpoint), str(out), "--dtype", "float16"]


def export_onnx(checkpoint: Path, out: Path, timeout_s: float = 7200) -> float:
    """Export ``checkpoint`` into ``out`` (atomically, its ``llm/`` checked); returns the seconds it took."""
    exporter = exporter_path()
    if exporter is None:
        raise RuntimeUnavailable("TensorRT Edge-LLM's ONNX exporter is not installed", fix=HOW_TO_GET)
    out = Path(out)
    start = time.perf_counter()
    with atomic_path(out) as tmp:
        argv = export_argv(checkpoint, tmp, exporter)
        log = out.parent / f"{out.name}.export.log"
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise StageError(f"{EXPORTER} ran over {timeout_s:.0f} s and was stopped") from exc
        log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
        missing = [f for f in REQUIRED if not (tmp / LLM_SUBDIR / f).is_file()]
        if proc.returncode != 0 or missing:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StageError(f"{EXPORTER} failed (exit {proc.returncode}"
                             f"{', no ' + ', '.join(missing) if missing else ''}): {last[0]}",
                             fix=f"see {log}; the checkpoint's architecture must be one Edge-LLM supports")
    return time.perf_counter() - start
