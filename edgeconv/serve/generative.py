"""The text-generation side of `edgeconv serve` (no HTTP here): an ONNX Runtime GenAI artifact loaded through the
generation runner verification used, its prompts built with the artifact's own tokenizer and chat template (what
a device without transformers has), and generation one request at a time in a worker thread that a client's
disconnect stops. ``TextStream`` turns tokens into text pieces, holding back what may still become a stop string.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconv.backends.onnxruntime_genai import RUNNER as GENAI_RUNNER
from edgeconv.errors import SpecError
from edgeconv.verify.generation import Sampling


class PromptError(ValueError):
    """The request's prompt cannot be generated from (too long, or no chat template): the client's problem."""

    def __init__(self, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.param = code, param


class Cancelled(Exception):
    """Raised inside the runner's token callback to stop generating (the client went away)."""


@dataclass
class Outcome:
    """How a generation ended: ``finish_reason`` as OpenAI names it ('stop' or 'length'), and its counts."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    rest: str = ""  # text held back for a possible stop string, released at the end


@dataclass
class GenerativeModel:
    """A text-generation artifact being served: the loaded runner, its context and one generation at a time
    (the runner holds one KV cache and the board has a few cores: a second request waits for the first)."""

    name: str
    platform: str
    runner: Any
    context_length: int
    has_chat_template: bool
    created: int = field(default_factory=lambda: int(time.time()))
    queue: asyncio.Lock = field(default_factory=asyncio.Lock)  # requests wait here, in order
    busy: threading.Lock = field(default_factory=threading.Lock)  # held by the thread using the runner
    inputs: list[Any] = field(default_factory=list)  # the v2 metadata's: no tensors, text in and out
    outputs: list[Any] = field(default_factory=list)

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The messages through the artifact's chat template (with the assistant's turn opened), as token ids."""
        if not self.has_chat_template:
            raise PromptError(f"'{self.name}' has no chat template: send a plain prompt to /v1/completions")
        try:
            text = self.runner.tokenizer.apply_chat_template(json.dumps(messages), add_generation_prompt=True)
        except Exception as exc:  # the template's own raise_exception (e.g. roles out of order) or a Jinja error
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PromptError(f"the model's chat template refused these messages: {reason}") from exc
        return self.runner.encode(text)

    def check_room(self, prompt_tokens: int, max_tokens: int | None) -> int:
        """The new tokens this request may generate: ``max_tokens``, or what the context leaves when None."""
        room = self.context_length - prompt_tokens
        if room <= 0:
            raise PromptError(f"the prompt is {prompt_tokens} tokens; this model's context is {self.context_length} "
                              "tokens: shorten it", "context_length_exceeded")
        if max_tokens is not None and max_tokens > room:
            raise PromptError(f"the prompt ({prompt_tokens} tokens) and max_tokens ({max_tokens}) exceed this "
                              f"model's context of {self.context_length} tokens: ask for at most {room}",
                              "context_length_exceeded", "max_tokens")
        return room if max_tokens is None else max_tokens

    async def generate(self, ids: list[int], max_tokens: int, stops: list[str],
                       count: Callable[[], None] | None = None,
                       sampling: Sampling | None = None) -> AsyncIterator[str | Outcome]:
        """Each token's text piece as it is generated (one item per token, maybe ''), then the Outcome. Waits its
        turn for the model; closing the iterator (the client disconnected) stops the runner at its next token.
        ``count`` runs in the generating thread for every token the runner made, read or not."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        text = TextStream(self.runner.decode, stops)

        def on_token(token: int) -> None:
            if count is not None:
                count()
            if cancel.is_set():
                raise Cancelled
            piece, stopped = text.add(token)
            loop.call_soon_threadsafe(queue.put_nowait, piece)
            if stopped:
                raise Cancelled  # a stop string: nothing after it is wanted

        def work() -> None:
            try:
                with self.busy:  # a cancelled request's thread may still be finishing its token
                    if cancel.is_set():
                        return
                    generation = self.runner.generate(ids, max_tokens, on_token, sampling=sampling)
                reason = "stop" if generation.stopped else "length"
            except Cancelled:
                reason = "stop"
            except Exception as exc:  # the runtime failed: the HTTP side reports it, the server lives on
                loop.call_soon_threadsafe(queue.put_nowait, exc)
                return
            done = Outcome(reason, len(ids), len(text.tokens), "" if text.stopped else text.finish())
            loop.call_soon_threadsafe(queue.put_nowait, done)

        async with self.queue:
            threading.Thread(target=work, name="edgeconv-generate", daemon=True).start()
            try:
                while True:
                    item = await queue.get()
                    if isinstance(item, Exception):
                        raise item
                    yield item
                    if isinstance(item, Outcome):
                        return
            finally:
                cancel.set()  # no await here: a cancelled task's scope would cancel it; ``busy`` orders the threads


class TextStream:
    """Tokens to text pieces whose concatenation is the decoded text: each piece is what decoding all tokens so
    far adds, held back while the text ends in a partial UTF-8 character or in what may begin a stop string."""

    def __init__(self, decode: Callable[[list[int]], str], stops: list[str]) -> None:
        self.decode, self.stops = decode, [s for s in stops if s]
        self.tokens: list[int] = []
        self.sent = 0  # characters of the decoded text already given out
        self.text = ""
        self.stopped = False

    def add(self, token: int) -> tuple[str, bool]:
        """(the new piece, whether a stop string ended the text: it and what follows are dropped)."""
        self.tokens.append(token)
        self.text = self.decode(self.tokens)
        hits = [i for i in (self.text.find(s, max(0, self.sent - len(s) + 1)) for s in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            return self._emit(min(hits)), True
        if self.text.endswith("\ufffd"):  # a character split across tokens: wait for the rest of it
            return "", False
        held = max((n for s in self.stops for n in range(1, len(s)) if self.text.endswith(s[:n])), default=0)
        return self._emit(len(self.text) - held), False

    def finish(self) -> str:
        """What was held back, once no more tokens come."""
        return self._emit(len(self.text))

    def _emit(self, end: int) -> str:
        piece = self.text[self.sent:end] if end > self.sent else ""
        self.sent = max(self.sent, end)
        return piece


def is_genai_folder(folder: Path) -> bool:
    return (folder / "genai_config.json").is_file()


def load_generative(folder: Path, name: str, runner: str = GENAI_RUNNER,
                    kwargs: dict[str, Any] | None = None) -> GenerativeModel:
    """An ONNX Runtime GenAI folder loaded through ``runner`` (the one its build recorded)."""
    from edgeconv.verify.worker import load_runner

    if runner != GENAI_RUNNER:
        raise SpecError(f"edgeconv serve answers text generation with ONNX Runtime GenAI artifacts, not {runner}",
                        fix="serve the build's x86-cpu-ort-genai target (--target)")
    config = json.loads((folder / "genai_config.json").read_text())
    context = int(config["model"].get("context_length") or config.get("search", {}).get("max_length") or 0)
    if context <= 0:
        raise SpecError(f"'{folder / 'genai_config.json'}' states no context_length", fix="rebuild the artifact")
    loaded = load_runner(runner, {**(kwargs or {}), "path": str(folder)})
    loaded.activate()
    template = (folder / "chat_template.jinja").is_file() or bool(
        json.loads((folder / "tokenizer_config.json").read_text()).get("chat_template")
        if (folder / "tokenizer_config.json").is_file() else False)
    return GenerativeModel(name, "onnxruntime_genai", loaded, context, template)
