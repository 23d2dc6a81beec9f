"""The llama.cpp peer of bench/llm.py, made the way llama.cpp's README tells a user: the Hugging Face folder
converted by ``convert_hf_to_gguf.py`` (its default output type), quantized to Q4_K_M by ``llama-quantize``,
run through llama-cpp-python's ``Llama``.

llama.cpp is not an edgeconv backend (yet), so its runner lives here, behind the same generation-runner
interface as every other row. Greedy decoding is an argmax over the last position's logits (what llama.cpp's
greedy sampler does) so that the stop token can be held back for a fixed decode length without a Python
logits processor in the timed loop; ``Llama.generate`` would also reuse the KV cache of a repeated prompt
(its prefix match), which would time a cached prompt, so every call starts from ``reset``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.verify.generation import Generation, GenerationRunner, Sampling, TokenCallback

Q4_K_M = 15  # llama.h LLAMA_FTYPE_MOSTLY_Q4_K_M, what `llama-quantize ... Q4_K_M` writes


def llama_cpp_sources() -> Path | None:
    """The llama.cpp sources (convert_hf_to_gguf.py, gguf-py): $LLAMA_CPP_SOURCES or none."""
    folder = os.environ.get("LLAMA_CPP_SOURCES")
    return Path(folder) if folder and (Path(folder) / "convert_hf_to_gguf.py").is_file() else None


def make_q4_k_m(hf: Path, out: Path, log: Path) -> Path:
    """HF folder -> GGUF at convert_hf_to_gguf.py's default type -> Q4_K_M; the file written then renamed."""
    sources = llama_cpp_sources()
    if sources is None:
        raise RuntimeError("no llama.cpp sources: set LLAMA_CPP_SOURCES to the llama.cpp folder of the "
                           "llama-cpp-python sdist (vendor/llama.cpp)")
    out.mkdir(parents=True, exist_ok=True)
    full = out / "model-default.gguf"
    with log.open("w") as f:
        subprocess.run([sys.executable, str(sources / "convert_hf_to_gguf.py"), str(hf), "--outfile", str(full)],
                       check=True, stdout=f, stderr=subprocess.STDOUT)
        tmp, final = out / "model-Q4_K_M.gguf.tmp", out / "model-Q4_K_M.gguf"
        quantize = shutil.which("llama-quantize", path=os.environ.get("LLAMA_CPP_LIB_PATH"))
        if quantize:  # the tool itself
            subprocess.run([quantize, str(full), str(tmp), "Q4_K_M"], check=True, stdout=f, stderr=subprocess.STDOUT)
        else:  # the same library call llama-quantize makes (llama_model_quantize), through the binding
            import llama_cpp

            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = Q4_K_M
            if llama_cpp.llama_model_quantize(str(full).encode(), str(tmp).encode(), ctypes.byref(params)) != 0:
                raise RuntimeError(f"llama_model_quantize failed on {full}")
    full.unlink()
    tmp.rename(final)
    return final


class LlamaCppRunner(GenerationRunner):
    """A GGUF file through llama-cpp-python: one context for generation, one (made on first use) for logits."""

    name = "llama.cpp"

    def __init__(self, path: str, threads: int | None = None, n_ctx: int = 2048, repack: bool = True) -> None:
        super().__init__(path, threads)
        self.n_ctx, self.repack = n_ctx, repack
        self.llm: Any = None
        self.scorer: Any = None
        self.stops: set[int] = set()

    def _load(self, logits_all: bool) -> Any:
        # ggml's OpenMP threads spin at their barriers: on a machine with more runnable threads than cores, 2 threads
        # decoded ~70x slower than 1 (0.12 vs 4.9 tok/s at load 17). Passive waiting, set before the library's
        # libgomp starts (torch's bundled libgomp has started already and keeps its default), measured 8.9 tok/s.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import llama_cpp.llama_cpp as lib
        from llama_cpp import Llama

        defaults = lib.llama_model_default_params

        def no_repack() -> Any:  # llama-cli --no-repack: no extra buffer types (CPU repacking, the AMX kernels)
            params = defaults()
            params.use_extra_bufts = False
            return params

        if not self.repack:  # Llama() has no keyword for it and reads its model parameters from this function
            lib.llama_model_default_params = no_repack
        try:
            threads = self.threads or None
            return Llama(self.path, n_ctx=self.n_ctx, n_threads=threads, n_threads_batch=threads,
                         logits_all=logits_all, verbose=False)
        finally:
            lib.llama_model_default_params = defaults

    def activate(self) -> None:
        import llama_cpp

        start = time.perf_counter()
        self.llm = self._load(logits_all=False)
        self.load_s = time.perf_counter() - start
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.stops = {t for t in range(self.llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)}

    def deactivate(self) -> None:
        for llm in (self.llm, self.scorer):
            if llm is not None:
                llm.close()
        self.llm = self.scorer = None

    def _generate(self, input_ids: list[int], max_new_tokens: int, on_token: TokenCallback | None,
                  min_new_tokens: int, sampling: Sampling | None) -> Generation:
        """Greedy only: the bench times the verified (greedy) decode; ``sampling`` is refused."""
        import llama_cpp

        if sampling is not None:
            raise ValueError("the llama.cpp peer decodes greedily only")
        llm, n_vocab = self.llm, self.llm.n_vocab()
        stops = np.fromiter(self.stops, dtype=np.int64)
        tokens: list[int] = []
        times: list[float] = []
        stopped = False
        start = time.perf_counter()
        llm.reset()
        llm.eval(input_ids)
        while len(tokens) < max_new_tokens:
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
            if len(tokens) < min_new_tokens:
                logits = logits.copy()
                logits[stops] = -np.inf
            token = int(np.argmax(logits))
            times.append(time.perf_counter() - start)
            if token in self.stops:
                stopped = True
                break
            tokens.append(token)
            if on_token is not None:
                on_token(token)
            if len(tokens) < max_new_tokens:
                llm.eval([token])
        ttft = times[0] if times else time.perf_counter() - start
        return Generation(prompt_tokens=len(input_ids), tokens=tokens, ttft_s=ttft,
                          token_times_s=times[: len(tokens)], stopped=stopped)

    def logits(self, input_ids: list[int]) -> np.ndarray:
        if self.scorer is None:
            self.scorer = self._load(logits_all=True)
        self.scorer.reset()
        self.scorer.eval(input_ids)
        return np.array(self.scorer.scores[: len(input_ids)], dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        import llama_cpp

        return {"runtime": "llama.cpp (llama-cpp-python)", "version": llama_cpp.__version__,
                "threads": self.threads, "load_s": self.load_s}
