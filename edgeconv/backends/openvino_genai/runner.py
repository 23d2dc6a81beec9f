"""OpenVINO GenAI runner: an optimum-intel IR folder (openvino_model.xml, tokenizer IRs) run by
``openvino_genai.LLMPipeline``, its KV cache held as the model's state.

Generation goes through LLMPipeline with a streamer that receives token ids as they are produced.
Teacher-forced logits come from the same IR through the plain OpenVINO runtime (LLMPipeline returns
tokens, not logits): one inference of the whole sequence on a fresh state. The CPU plugin would run
activations in bf16 on AMX / AVX512-BF16 CPUs; ``inference_precision`` says what to run (f32 by
default, so an artifact's error is its weights' own) and ``describe`` reports it.
Imports only numpy, openvino and openvino_genai (plus the generation base).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.verify.generation import Generation, GenerationRunner, Sampling, TokenCallback


class OpenVINOGenaiRunner(GenerationRunner):
    name = "openvino-genai"

    def __init__(self, path: str, threads: int | None = None, device: str = "CPU",
                 inference_precision: str | None = "f32") -> None:
        super().__init__(path, threads)
        self.device = device
        self.inference_precision = inference_precision
        self.pipe: Any = None
        self.request: Any = None

    def _properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if self.threads:
            props["INFERENCE_NUM_THREADS"] = self.threads
        if self.inference_precision:
            props["INFERENCE_PRECISION_HINT"] = self.inference_precision
        return props

    def activate(self) -> None:
        import openvino_genai as ov_genai

        start = time.perf_counter()
        self.pipe = ov_genai.LLMPipeline(self.path, self.device, **self._properties())
        self.load_s = time.perf_counter() - start

    def deactivate(self) -> None:
        self.pipe = self.request = None

    def _generate(self, input_ids: list[int], max_new_tokens: int, on_token: TokenCallback | None,
                  min_new_tokens: int, sampling: Sampling | None) -> Generation:
        import openvino as ov
        import openvino_genai as ov_genai

        config = self.pipe.get_generation_config()
        config.max_new_tokens = max_new_tokens
        config.min_new_tokens = min_new_tokens
        config.do_sample = sampling is not None
        if sampling is not None:  # OpenVINO GenAI's sampler: top_k 0 is the whole vocabulary
            config.temperature, config.top_p, config.top_k = sampling.temperature, sampling.top_p, sampling.top_k
            if sampling.seed is not None:
                config.rng_seed = sampling.seed
        stops = set(config.stop_token_ids) | ({config.eos_token_id} if config.eos_token_id >= 0 else set())
        tokens: list[int] = []
        times: list[float] = []
        start = time.perf_counter()

        class Stream(ov_genai.StreamerBase):
            """Token ids as LLMPipeline produces them (a plain callable streamer would get decoded text)."""

            def write(self, token: int | list[int]) -> ov_genai.StreamingStatus:
                for t in [token] if isinstance(token, int) else token:
                    times.append(time.perf_counter() - start)
                    if int(t) not in stops:
                        tokens.append(int(t))
                        if on_token is not None:
                            on_token(int(t))
                return ov_genai.StreamingStatus.RUNNING

            def end(self) -> None:
                """Nothing to flush."""

        ids = np.asarray([input_ids], dtype=np.int64)
        inputs = ov_genai.TokenizedInputs(ov.Tensor(ids), ov.Tensor(np.ones_like(ids)))
        start = time.perf_counter()
        result = self.pipe.generate(inputs, config, streamer=Stream())
        final = [int(t) for t in result.tokens[0]]
        stopped = bool(final) and final[-1] in stops
        return Generation(prompt_tokens=len(input_ids), tokens=tokens, ttft_s=times[0] if times else 0.0,
                          token_times_s=times[: len(tokens)], stopped=stopped)

    def logits(self, input_ids: list[int]) -> np.ndarray:
        if self.request is None:
            import openvino as ov

            core = ov.Core()
            model = core.read_model(str(Path(self.path) / "openvino_model.xml"))
            self.request = core.compile_model(model, self.device, self._properties()).create_infer_request()
        self.request.reset_state()
        n = len(input_ids)
        feeds = {"input_ids": np.asarray([input_ids], dtype=np.int64),
                 "attention_mask": np.ones((1, n), dtype=np.int64),
                 "position_ids": np.arange(n, dtype=np.int64)[None], "beam_idx": np.zeros(1, dtype=np.int32)}
        names = {port.get_any_name() for port in self.request.model_inputs}
        out = self.request.infer({k: v for k, v in feeds.items() if k in names})
        logits = next(v for k, v in out.items() if "logits" in k.get_names())
        return np.asarray(logits).reshape(n, -1).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        import openvino_genai as ov_genai

        return {"runtime": "openvino-genai", "version": ov_genai.__version__, "device": self.device,
                "threads": self.threads, "inference_precision": self.inference_precision, "load_s": self.load_s}
