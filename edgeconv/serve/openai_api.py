"""The OpenAI-compatible endpoints of `edgeconv serve` for a text-generation artifact (what LLM clients speak):
POST /v1/chat/completions and /v1/completions (whole, or streamed as server-sent events ending in
``data: [DONE]``), GET /v1/models. One generation at a time per model (``GenerativeModel.generate`` queues the
rest); a client that disconnects stops its generation. Prometheus counts tokens and time to first token."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations here

from edgeconv.serve.generative import GenerativeModel, Outcome, PromptError
from edgeconv.serve.openai_schema import (
    GenerationRequest,
    OpenAIError,
    chunk,
    completion,
    model_card,
    model_list,
    new_id,
    parse,
    usage,
)

DISCONNECT_POLL_S = 0.25  # how often a whole (non-streamed) answer's client is checked for having gone


class GenerationMetrics:
    """Tokens in and out, time to first token, and how each generation ended, on the app's registry."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        self.prompt = Counter("edgeconv_prompt_tokens", "Prompt tokens read", registry=registry)
        self.tokens = Counter("edgeconv_generated_tokens", "Tokens the runtime generated (after a disconnect too, "
                              "until it stops)", registry=registry)
        self.ttft = Histogram("edgeconv_time_to_first_token_seconds", "From a generation request's arrival "
                              "(waiting for the model included) to its first generated token", registry=registry,
                              buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30))
        self.ended = Counter("edgeconv_generations", "Generations by how they ended (stop, length, cancelled: "
                             "the client went away, error)", ["finish_reason"], registry=registry)


def add_openai_routes(app: Any, model: GenerativeModel, registry: Any, counted: Callable[[str, Any], Any],
                      body_of: Callable[[Request], Awaitable[bytes]]) -> None:
    """Register the /v1 endpoints for ``model`` on ``app`` (the v2 health, metadata and /metrics stay)."""
    from fastapi.responses import JSONResponse, StreamingResponse

    metrics = GenerationMetrics(registry)

    @app.exception_handler(OpenAIError)
    async def openai_error(request: Request, exc: OpenAIError) -> Any:
        endpoint = request.url.path.rsplit("/", 1)[-1] or "root"
        return counted(endpoint, JSONResponse(exc.body(), status_code=exc.status))

    @app.get("/v1/models")
    async def models() -> Any:
        return counted("models", JSONResponse(model_list(model.name, model.created)))

    @app.get("/v1/models/{name}")
    async def one_model(name: str) -> Any:
        if name != model.name:
            raise OpenAIError(f"The model '{name}' does not exist; this server serves '{model.name}'", 404,
                              "model", "model_not_found")
        return counted("models", JSONResponse(model_card(model.name, model.created)))

    async def answer(request: Request, chat: bool) -> Any:
        arrived = time.perf_counter()
        endpoint = "chat" if chat else "completions"
        raw = await body_of(request)  # its size errors come back in OpenAI's shape too (app.bad_request)
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise OpenAIError(f"the request is not JSON ({exc})") from exc
        req = parse(body, chat, model.name)
        try:
            encode = (lambda: model.chat_ids(req.messages)) if chat else (lambda: model.runner.encode(req.prompt))
            ids = await asyncio.to_thread(encode)  # a long prompt does not hold the event loop
            limit = model.check_room(len(ids), req.max_tokens)
        except PromptError as exc:
            raise OpenAIError(str(exc), param=exc.param or ("messages" if chat else "prompt"), code=exc.code) from exc
        metrics.prompt.inc(len(ids))
        rid = new_id(chat)
        tokens = model.generate(ids, limit, req.stops, metrics.tokens.inc, req.sampling)
        if req.stream:
            return counted(endpoint, StreamingResponse(events(req, rid, tokens, arrived),
                                                       media_type="text/event-stream"))
        collecting = asyncio.ensure_future(collect(tokens, arrived))
        while not (await asyncio.wait({collecting}, timeout=DISCONNECT_POLL_S))[0]:
            if await request.is_disconnected():
                collecting.cancel()
                metrics.ended.labels("cancelled").inc()
                return counted(endpoint, JSONResponse({}, status_code=499))  # nobody reads it: nginx's code
        text, outcome = collecting.result()
        return counted(endpoint, JSONResponse(completion(req, rid, model.name, text, outcome.finish_reason,
                                                         usage(outcome.prompt_tokens, outcome.completion_tokens))))

    async def collect(tokens: AsyncIterator[str | Outcome], arrived: float) -> tuple[str, Outcome]:
        pieces = []
        async with aclosing(tokens):
            try:
                async for item in tokens:
                    if isinstance(item, Outcome):
                        metrics.ended.labels(item.finish_reason).inc()
                        return "".join(pieces) + item.rest, item
                    if not pieces:
                        metrics.ttft.observe(time.perf_counter() - arrived)
                    pieces.append(item)
            except Exception as exc:
                metrics.ended.labels("error").inc()
                raise OpenAIError(f"the runtime failed: {first_line(exc)}", 500, kind="server_error") from exc
        raise OpenAIError("the generation ended without an outcome", 500, kind="server_error")

    async def events(req: GenerationRequest, rid: str, tokens: AsyncIterator[str | Outcome],
                     arrived: float) -> AsyncIterator[str]:
        """``data: {chunk}`` lines: the role, each text piece, the finish reason, the usage if asked, [DONE]."""
        finished, first = False, True
        try:
            async with aclosing(tokens):
                if req.chat:
                    yield sse(chunk(req, rid, model.name, "", first=True))
                async for item in tokens:
                    if isinstance(item, Outcome):
                        finished = True
                        metrics.ended.labels(item.finish_reason).inc()
                        if item.rest:
                            yield sse(chunk(req, rid, model.name, item.rest))
                        yield sse(chunk(req, rid, model.name, None, item.finish_reason))
                        if req.include_usage:
                            yield sse(chunk(req, rid, model.name, None,
                                            counts=usage(item.prompt_tokens, item.completion_tokens)))
                        yield "data: [DONE]\n\n"
                        return
                    if first:
                        metrics.ttft.observe(time.perf_counter() - arrived)
                        first = False
                    if item:
                        yield sse(chunk(req, rid, model.name, item))
        except Exception as exc:  # headers are sent: the error goes in the stream, as OpenAI's does
            finished = True
            metrics.ended.labels("error").inc()
            yield sse(OpenAIError(f"the runtime failed: {first_line(exc)}", 500, kind="server_error").body())
        finally:
            if not finished:  # the client went away (Starlette cancelled this stream)
                metrics.ended.labels("cancelled").inc()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await answer(request, chat=False)


def sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
