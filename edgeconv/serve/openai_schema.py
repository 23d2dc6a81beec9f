"""OpenAI's request and response shapes for /v1/chat/completions, /v1/completions and /v1/models, checked and
written by hand: the fields are few and the official ``openai`` client (a test dependency) is the judge of the
responses; importing its pydantic types would make the client a serving dependency.

Decoding is greedy (the decoding verification measured) unless the request sends a ``temperature`` above 0: then
the runtime's own sampler draws with that temperature, ``top_p`` and ``seed`` (a fixed seed repeats a draw on one
server). ``top_k`` is accepted too, as vLLM's and llama.cpp's OpenAI servers accept it. One choice (``n`` 1), no
penalties, logit bias, log-probabilities, tools or JSON mode. Anything else is a 400 in OpenAI's error shape naming
the parameter, as is a field OpenAI does not define.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from edgeconv.verify.generation import Sampling

MAX_STOPS = 4  # OpenAI's limit on stop sequences
COMMON = {"model", "max_tokens", "temperature", "top_p", "top_k", "n", "stop", "stream", "stream_options", "seed",
          "user", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs"}
CHAT = COMMON | {"messages", "max_completion_tokens", "top_logprobs", "response_format", "tools", "tool_choice",
                 "parallel_tool_calls", "functions", "function_call", "metadata", "store"}
COMPLETION = COMMON | {"prompt", "echo", "suffix", "best_of"}
# parameter -> the only values this server accepts (None: absent / null is always accepted).
FIXED = {"n": (1,), "best_of": (1,), "frequency_penalty": (0,),
          "presence_penalty": (0,), "logprobs": (False, 0), "top_logprobs": (0,), "echo": (False,),
          "logit_bias": ({},), "response_format": ({"type": "text"},), "tools": ([],), "functions": ([],),
          "suffix": ("",), "tool_choice": ("none",), "function_call": ("none",), "parallel_tool_calls": (False, True),
          "store": (False,), "metadata": ({},)}
WHY = {"n": "this server returns one choice per request: leave n out (or 1)"}


class OpenAIError(Exception):
    """A refused request, answered in OpenAI's error shape (the client raises it as BadRequestError etc.)."""

    def __init__(self, message: str, status: int = 400, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.param, self.code, self.kind = status, param, code, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}}


@dataclass
class GenerationRequest:
    """What a request asks for, once checked: messages (chat) or a prompt, and how to end."""

    chat: bool
    messages: list[dict[str, str]]
    prompt: str
    max_tokens: int | None  # None: until a stop token or the context's end (chat), 16 for completions
    stops: list[str]
    stream: bool
    include_usage: bool
    sampling: Sampling | None = None  # None: greedy, the verified decoding


def parse(body: Any, chat: bool, served: str) -> GenerationRequest:
    """The request checked against OpenAI's schema and what greedy decoding serves; OpenAIError otherwise."""
    if not isinstance(body, dict):
        raise OpenAIError("the request body must be a JSON object")
    allowed = CHAT if chat else COMPLETION
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise OpenAIError(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
    if body.get("model") != served:
        raise OpenAIError(f"The model '{body.get('model')}' does not exist; this server serves '{served}'",
                          404, "model", "model_not_found")
    for name, accepted in FIXED.items():
        value = body.get(name)
        if value is not None and name in allowed and not _accepts(value, accepted):
            raise OpenAIError(WHY.get(name, f"'{name}' = {value!r} is not supported: this server samples one choice "
                                            "with no penalties, log-probabilities, tools or response formats"),
                              param=name)
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or set(options) - {"include_usage"}):
        raise OpenAIError("stream_options takes only include_usage", param="stream_options")
    key = "max_completion_tokens" if chat and body.get("max_completion_tokens") is not None else "max_tokens"
    limit = body.get(key, None if chat else 16)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise OpenAIError(f"{key} must be a positive integer, not {limit!r}", param=key)
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise OpenAIError("stream must be true or false", param="stream")
    return GenerationRequest(chat, _messages(body) if chat else [], "" if chat else _prompt(body), limit,
                             _stops(body.get("stop")), stream, bool((options or {}).get("include_usage")),
                             _sampling(body))


def _number(body: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    """A number in [low, high] (OpenAI's ranges), or ``default`` when absent."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise OpenAIError(f"{name} must be a number from {low:g} to {high:g}, not {value!r}", param=name)
    return float(value)


def _sampling(body: dict[str, Any]) -> Sampling | None:
    """Greedy when temperature is absent or 0 (top_p, top_k and seed then change nothing); else the sampler."""
    temperature = _number(body, "temperature", 0, 2, 0)
    top_p = _number(body, "top_p", 0, 1, 1)
    top_k, seed = body.get("top_k"), body.get("seed")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < -1):
        raise OpenAIError(f"top_k must be a whole number (0 or -1: no limit), not {top_k!r}", param="top_k")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31):
        raise OpenAIError(f"seed must be a whole number from 0 to 2147483647, not {seed!r}", param="seed")
    if temperature == 0:
        return None
    if top_p == 0:
        raise OpenAIError("top_p must be above 0 when sampling (temperature > 0)", param="top_p")
    return Sampling(temperature, top_p, max(int(top_k or 0), 0), seed)


def _accepts(value: Any, accepted: tuple[Any, ...]) -> bool:
    """``value`` is one of ``accepted`` (True is not 1 here: logprobs true asks for something)."""
    return any(value == a and isinstance(value, bool) == isinstance(a, bool) for a in accepted)


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    """Roles and text contents (a list of text parts is joined, as OpenAI's content parts allow)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIError("messages must be a non-empty list of {role, content}", param="messages")
    out = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "developer", "user", "assistant"):
            raise OpenAIError(f"messages[{i}].role must be system, developer, user or assistant, not {role!r}",
                              param=f"messages[{i}].role")
        content = message.get("content")
        if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
            content = "".join(str(p.get("text", "")) for p in content)
        if not isinstance(content, str):
            raise OpenAIError(f"messages[{i}].content must be text (images, audio and tool calls are not served)",
                              param=f"messages[{i}].content")
        out.append({"role": "system" if role == "developer" else role, "content": content})
    return out


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise OpenAIError("prompt must be one non-empty string (token lists and batches are not served)",
                          param="prompt")
    return prompt


def _stops(stop: Any) -> list[str]:
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or len(stops) > MAX_STOPS or not all(isinstance(s, str) and s for s in stops):
        raise OpenAIError(f"stop must be a string or a list of at most {MAX_STOPS} non-empty strings", param="stop")
    return stops


def new_id(chat: bool) -> str:
    return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion(request: GenerationRequest, rid: str, model: str, text: str, finish: str,
               counts: dict[str, int]) -> dict[str, Any]:
    """The whole answer: a chat.completion or a text_completion."""
    if request.chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                  "finish_reason": finish, "logprobs": None}
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
    return {"id": rid, "object": "chat.completion" if request.chat else "text_completion",
            "created": int(time.time()), "model": model, "choices": [choice], "usage": counts}


def chunk(request: GenerationRequest, rid: str, model: str, piece: str | None, finish: str | None = None,
          counts: dict[str, int] | None = None, first: bool = False) -> dict[str, Any]:
    """One server-sent event's data: a text piece, the finish reason, or (``counts``, no choices) the usage."""
    if counts is not None:
        choices: list[dict[str, Any]] = []
    elif request.chat:
        delta = ({"role": "assistant"} if first else {}) | ({} if piece is None else {"content": piece})
        choices = [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
    else:
        choices = [{"index": 0, "text": piece or "", "finish_reason": finish, "logprobs": None}]
    body = {"id": rid, "object": "chat.completion.chunk" if request.chat else "text_completion",
            "created": int(time.time()), "model": model, "choices": choices}
    if request.include_usage:
        body["usage"] = counts  # null on every chunk but the last, as OpenAI sends it
    return body


def model_list(name: str, created: int) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(name, created)]}


def model_card(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "edgeconv"}
