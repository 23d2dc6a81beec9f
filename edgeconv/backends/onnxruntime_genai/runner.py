"""ONNX Runtime GenAI runner: a model-builder folder (model.onnx, genai_config.json, tokenizer) loaded with
``onnxruntime_genai``, its KV cache managed by the runtime.

Greedy generation streams each token as ``generate_next_token`` yields it; teacher-forced logits come
from one ``append_tokens`` of the whole sequence followed by ``get_output("logits")`` (onnxruntime-genai
0.18 returns every position of the last run, ``[1, seq, vocab]``). Imports only numpy and
onnxruntime_genai (plus the generation base), so it can run on a device as is.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from edgeconv.verify.generation import Generation, GenerationRunner, Sampling, TokenCallback


class GenaiRunner(GenerationRunner):
    name = "onnxruntime-genai"

    def __init__(self, path: str, threads: int | None = None, provider: str = "cpu") -> None:
        super().__init__(path, threads)
        self.provider = provider
        self.model: Any = None
        self.tokenizer: Any = None
        self.stop_ids: set[int] = set()

    def activate(self) -> None:
        import onnxruntime_genai as og

        start = time.perf_counter()
        config = og.Config(self.path)
        if self.threads:
            options = {"intra_op_num_threads": self.threads, "inter_op_num_threads": 1}
            config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
        if self.provider != "cpu":
            config.clear_providers()
            config.append_provider(self.provider)
        self.model = og.Model(config)
        self.tokenizer = og.Tokenizer(self.model)
        self.load_s = time.perf_counter() - start
        with open(f"{self.path}/genai_config.json", encoding="utf-8") as f:
            eos = json.load(f)["model"].get("eos_token_id", [])
        self.stop_ids = {eos} if isinstance(eos, int) else set(eos)

    def deactivate(self) -> None:
        self.model = self.tokenizer = None

    def encode(self, text: str) -> list[int]:
        """Token ids through the artifact's own tokenizer (what a device without transformers has)."""
        return [int(t) for t in self.tokenizer.encode(text)]

    def decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(np.asarray(tokens, dtype=np.int32))

    def _generator(self, total_length: int, min_length: int = 0, sampling: Sampling | None = None) -> Any:
        import onnxruntime_genai as og

        params = og.GeneratorParams(self.model)
        if sampling is None:
            params.set_search_options(max_length=total_length, min_length=min_length, do_sample=False)
        else:  # onnxruntime-genai's sampler: top_k 0 is the whole vocabulary, random_seed -1 a fresh draw
            params.set_search_options(max_length=total_length, min_length=min_length, do_sample=True,
                                      temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
                                      random_seed=-1 if sampling.seed is None else sampling.seed)
        return og.Generator(self.model, params)

    def _generate(self, input_ids: list[int], max_new_tokens: int, on_token: TokenCallback | None,
                  min_new_tokens: int, sampling: Sampling | None) -> Generation:
        generator = self._generator(len(input_ids) + max_new_tokens, len(input_ids) + min_new_tokens, sampling)
        tokens: list[int] = []
        times: list[float] = []
        stopped = False
        start = time.perf_counter()
        generator.append_tokens(np.asarray([input_ids], dtype=np.int32))
        while len(tokens) < max_new_tokens:
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            times.append(time.perf_counter() - start)
            if token in self.stop_ids:  # the stop token ends it; it is not part of the answer
                stopped = True
                break
            tokens.append(token)
            if on_token is not None:
                on_token(token)
            if generator.is_done():
                break
        ttft = times[0] if times else time.perf_counter() - start
        return Generation(prompt_tokens=len(input_ids), tokens=tokens, ttft_s=ttft,
                          token_times_s=times[: len(tokens)], stopped=stopped)

    def logits(self, input_ids: list[int]) -> np.ndarray:
        generator = self._generator(len(input_ids) + 1)
        generator.append_tokens(np.asarray([input_ids], dtype=np.int32))
        out = np.asarray(generator.get_output("logits"))
        return out.reshape(-1, out.shape[-1])[-len(input_ids):].astype(np.float32)

    def describe(self) -> dict[str, Any]:
        import onnxruntime_genai as og

        return {"runtime": "onnxruntime-genai", "version": og.__version__, "provider": self.provider,
                "threads": self.threads, "load_s": self.load_s}
