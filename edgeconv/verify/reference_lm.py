"""The fp32 torch reference of a decoder LM behind the generation-runner interface.

It is what every artifact is compared with (teacher-forced logits, greedy answers) and the speed
baseline users know: transformers ``generate`` in fp32 with its KV cache, timed token by token
through a streamer, exactly as a user would run the fine-tuned model without edgeconv.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgeconv.models.causal_lm import CausalLM, stop_token_ids
from edgeconv.verify.generation import Generation, GenerationRunner, Sampling, TokenCallback


class _Timed:
    """A transformers streamer: records when each new token exists and hands it on."""

    def __init__(self, prompt_len: int, stops: set[int], on_token: TokenCallback | None) -> None:
        self.prompt_len, self.stops, self.on_token = prompt_len, stops, on_token
        self.start = time.perf_counter()
        self.tokens: list[int] = []
        self.times: list[float] = []
        self.stopped = False
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() first hands the streamer the prompt
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.times.append(time.perf_counter() - self.start)
            if token in self.stops:
                self.stopped = True
                continue
            if not self.stopped:
                self.tokens.append(int(token))
                if self.on_token is not None:
                    self.on_token(int(token))

    def end(self) -> None:
        """Nothing to flush."""


class TorchLMRunner(GenerationRunner):
    name = "torch"

    def __init__(self, lm: CausalLM, threads: int | None = None) -> None:
        super().__init__(lm.files[0] if lm.files else "", threads)  # the file the reference was made from
        self.lm = lm

    def activate(self) -> None:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)

    def _generate(self, input_ids: list[int], max_new_tokens: int, on_token: TokenCallback | None,
                  min_new_tokens: int, sampling: Sampling | None) -> Generation:
        import torch

        stops = stop_token_ids(self.lm)
        streamer = _Timed(len(input_ids), set(stops), on_token)
        with torch.inference_mode():
            self.lm.model.generate(
                torch.tensor([input_ids]), attention_mask=torch.ones(1, len(input_ids), dtype=torch.long),
                max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, **_search(sampling),
                eos_token_id=stops, pad_token_id=stops[0], streamer=streamer,
            )
        times = streamer.times[: len(streamer.tokens)] if streamer.tokens else streamer.times[:1]
        return Generation(prompt_tokens=len(input_ids), tokens=streamer.tokens,
                          ttft_s=streamer.times[0] if streamer.times else 0.0,
                          token_times_s=times, stopped=streamer.stopped)

    def logits(self, input_ids: list[int]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.lm.model(torch.tensor([input_ids])).logits[0].float().numpy()

    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        return {"runtime": "torch", "torch": torch.__version__, "transformers": transformers.__version__,
                "threads": torch.get_num_threads()}


def _search(sampling: Sampling | None) -> dict[str, Any]:
    """transformers' generate arguments: greedy, or its sampler (top_k 0 disables the top-k filter there too);
    a seed re-seeds torch's global generator, the one generate draws from."""
    if sampling is None:
        return {"do_sample": False}
    if sampling.seed is not None:
        import torch

        torch.manual_seed(sampling.seed)
    return {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": sampling.top_k}
