"""What every generative (decoder LM) runner offers, and how its speed is summarised.

A generation runner is a context manager like ``runner.Runner`` (``__enter__`` loads the artifact)
with three calls: ``generate`` (greedy, streaming each token to a callback, timed; random sampling only when
asked, by a server's client: verification measures greedy output), ``stream``
(the same as an iterator) and ``logits`` (teacher-forced per-position logits of a token sequence,
for perplexity, KL and token agreement). Speed is measured the way LLM users quote it: time to
first token, prefill tokens/s (prompt length over TTFT), decode tokens/s and inter-token latency.

Imports only numpy and the standard library, so it travels with a runner module onto a device.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

TokenCallback = Callable[[int], None]


@dataclass
class Generation:
    """One greedy generation: the new tokens (stop token excluded) and when each arrived."""

    prompt_tokens: int
    tokens: list[int]
    ttft_s: float  # prompt in -> first new token out (prefill + one selection)
    token_times_s: list[float] = field(default_factory=list)  # arrival of each token, from the start
    stopped: bool = False  # ended on a stop token rather than the length limit

    def speed(self) -> dict[str, float | None]:
        """TTFT, prefill and decode tokens/s, median / p90 inter-token latency (ms)."""
        gaps = np.diff(np.asarray(self.token_times_s, dtype=np.float64))
        decode = float(len(gaps) / gaps.sum()) if len(gaps) and gaps.sum() > 0 else None
        return {
            "ttft_ms": self.ttft_s * 1e3,
            "prefill_tokens_per_s": self.prompt_tokens / self.ttft_s if self.ttft_s > 0 else None,
            "decode_tokens_per_s": decode,
            "itl_median_ms": float(np.median(gaps)) * 1e3 if len(gaps) else None,
            "itl_p90_ms": float(np.percentile(gaps, 90)) * 1e3 if len(gaps) else None,
            "new_tokens": float(len(self.tokens)),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "speed": self.speed()}


@dataclass(frozen=True)
class Sampling:
    """Random sampling in place of greedy decoding, done by the runtime's own sampler (what chat clients ask for
    with ``temperature``): softmax at ``temperature`` (> 0), then the nucleus ``top_p`` and the ``top_k`` most
    likely tokens (0: no limit); ``seed`` makes a draw repeatable on one runtime (None: a fresh draw)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None


class GenerationRunner:
    """Base class: subclasses implement ``activate``, ``_generate`` and ``logits`` (and ``deactivate``)."""

    name = "generation"

    def __init__(self, path: str, threads: int | None = None) -> None:
        self.path = path  # the artifact's folder
        self.threads = threads  # None: the runtime's own default
        self.load_s: float | None = None  # set by activate

    def activate(self) -> None:
        raise NotImplementedError

    def deactivate(self) -> None:
        """Release the runtime's resources (default: nothing to release)."""

    def _generate(self, input_ids: list[int], max_new_tokens: int, on_token: TokenCallback | None,
                  min_new_tokens: int, sampling: Sampling | None) -> Generation:
        raise NotImplementedError

    def generate(self, input_ids: list[int], max_new_tokens: int, on_token: TokenCallback | None = None,
                 min_new_tokens: int = 0, sampling: Sampling | None = None) -> Generation:
        """Greedy continuation of ``input_ids`` (sampled instead when ``sampling`` is given); ``on_token`` sees
        each new token as soon as it exists.

        ``min_new_tokens`` holds the stop token back until that many exist (timing a fixed decode length).
        """
        if not input_ids:
            raise ValueError("generate needs at least one prompt token")
        return self._generate(list(input_ids), max_new_tokens, on_token, min(min_new_tokens, max_new_tokens),
                              sampling)

    def stream(self, input_ids: list[int], max_new_tokens: int) -> Iterator[int]:
        """The new tokens as an iterator, produced in a thread while the caller consumes them."""
        out: queue.Queue[Any] = queue.Queue()
        done = object()

        def work() -> None:
            try:
                self.generate(input_ids, max_new_tokens, out.put)
            except BaseException as exc:  # re-raised in the consumer's thread
                out.put(exc)
            out.put(done)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        while (item := out.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
        thread.join()

    def logits(self, input_ids: list[int]) -> np.ndarray:
        """Teacher-forced logits, ``[len(input_ids), vocab]`` float32: row i predicts token i + 1."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {}

    def __enter__(self) -> GenerationRunner:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()
