"""The HTTP side of `edgeconv serve` (imported only by it: needs the serve extra): the Open Inference Protocol v2
REST endpoints (health, metadata, infer; JSON and the binary tensor extension tritonclient sends), ``/predict``
for raw text or an image through the build's own preprocessing, and Prometheus ``/metrics``; for a
text-generation artifact the OpenAI-compatible /v1 endpoints instead of infer (``openai_api``). Bad requests are
4xx with one line (in OpenAI's error shape under /v1), never a dead server."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations here

from edgeconv import __version__
from edgeconv.serve.batching import BatchSettings, DynamicBatcher
from edgeconv.serve.generative import GenerativeModel
from edgeconv.serve.model import NUMPY, ServedModel
from edgeconv.serve.openai_schema import OpenAIError

HEADER_LENGTH = "inference-header-content-length"  # the binary tensor extension's JSON header size


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def create_app(model: ServedModel | GenerativeModel, max_request_bytes: int,
               batching: BatchSettings | None = None) -> Any:
    """The server's routes; tensor requests go through a dynamic batcher (``batching``; default: no joining)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

    app = FastAPI(title="edgeconv serve", version=__version__, docs_url=None, redoc_url=None)
    registry = CollectorRegistry()
    requests = Counter("edgeconv_requests", "Requests by endpoint and status code", ["endpoint", "code"],
                       registry=registry)
    latency = Histogram("edgeconv_inference_seconds", "Time in the runtime per inference", registry=registry,
                        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
    batch_rows = Histogram("edgeconv_batch_size", "Rows per runtime call (requests joined by the dynamic batcher)",
                           registry=registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128))
    queued = Histogram("edgeconv_queue_seconds", "Time a request waited for its runtime call", registry=registry,
                       buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1))

    def observe(rows: int, waits: list[float], seconds: float) -> None:
        batch_rows.observe(rows)
        latency.observe(seconds)
        for wait in waits:
            queued.observe(wait)

    batcher = None
    if isinstance(model, ServedModel):
        batcher = DynamicBatcher(model.infer, model.configure(batching or BatchSettings(max_batch=1)), observe)

    def counted(endpoint: str, response: Any) -> Any:
        requests.labels(endpoint, str(response.status_code)).inc()
        return response

    async def body_of(request: Request) -> bytes:
        declared = int(request.headers.get("content-length") or 0)
        if declared > max_request_bytes:
            raise BadRequest(f"request of {declared} bytes is over the {max_request_bytes}-byte limit "
                             "(edgeconv serve --max-request-mb)", 413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_request_bytes:
                raise BadRequest(f"request is over the {max_request_bytes}-byte limit", 413)
        return bytes(body)

    def check_name(name: str) -> None:
        if name != model.name:
            raise BadRequest(f"unknown model '{name}'; this server serves '{model.name}'", 404)

    def tensors_only() -> ServedModel:
        if isinstance(model, GenerativeModel):
            raise BadRequest(f"'{model.name}' generates text: POST /v1/chat/completions or /v1/completions")
        return model

    async def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tensors_only()
        assert batcher is not None  # a ServedModel always has one
        try:
            return await batcher.infer(feeds)
        except Exception as exc:  # the runtime refused these tensors: the client's problem, the server lives on
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadRequest(f"the runtime refused the request: {first_line}") from exc

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Any:
        endpoint = request.url.path.rsplit("/", 1)[-1] or "root"
        body = OpenAIError(str(exc)).body() if request.url.path.startswith("/v1/") else {"error": str(exc)}
        return counted(endpoint, JSONResponse(body, status_code=exc.status))

    @app.get("/v2/health/live")
    async def live() -> Any:
        return counted("live", JSONResponse({"live": True}))

    @app.get("/v2/health/ready")
    async def ready() -> Any:
        return counted("ready", JSONResponse({"ready": model.runner is not None}))

    @app.get("/v2")
    async def server_metadata() -> Any:
        return {"name": "edgeconv", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> Any:
        check_name(name)
        return counted("metadata", JSONResponse({
            "name": model.name, "versions": ["1"], "platform": model.platform,
            "inputs": [vars(t) for t in model.inputs], "outputs": [vars(t) for t in model.outputs]}))

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> Any:
        check_name(name)
        return {"name": model.name, "ready": True}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Any:
        check_name(name)
        served = tensors_only()
        body = await body_of(request)
        header_length = request.headers.get(HEADER_LENGTH)
        payload, blobs = split_binary(body, int(header_length) if header_length else None)
        feeds = read_inputs(served, payload, blobs)
        outputs = await run(feeds)
        return counted("infer", respond(served, payload, outputs))

    @app.post("/v2/models/{name}/predict")
    async def predict(name: str, request: Request) -> Any:
        """Raw input through the build's preprocessing: JSON {"text": ..., "pair"?: ...} or an image body."""
        from edgeconv.data.raw_input import RawInputError, image_feeds, text_feeds

        check_name(name)
        served = tensors_only()
        if served.recipe is None or served.folder is None:
            raise BadRequest("this server has no preprocessing recipe (serve a build folder, not a file); "
                             "use /infer with tensors")
        body = await body_of(request)
        try:
            if (request.headers.get("content-type") or "").startswith("image/"):
                import io

                feeds = image_feeds(served.recipe, io.BytesIO(body))
            else:
                text = json.loads(body or b"{}")
                if not isinstance(text, dict) or not isinstance(text.get("text"), str):
                    raise BadRequest('send JSON {"text": "..."} (and "pair" for a text-pair model), or an image')
                raw = [text["text"], text["pair"]] if isinstance(text.get("pair"), str) else text["text"]
                feeds = text_feeds(served.recipe, served.folder, raw)
        except (RawInputError, json.JSONDecodeError) as exc:
            raise BadRequest(str(exc)) from exc
        outputs = await run(feeds)
        first = next(iter(outputs.values())).reshape(-1)
        labels = served.labels
        label = labels[int(np.argmax(first))] if labels and first.size == len(labels) else None
        answer = {"label": label, "outputs": {k: v.tolist() for k, v in outputs.items()}}
        return counted("predict", JSONResponse(answer))

    if isinstance(model, GenerativeModel):
        from edgeconv.serve.openai_api import add_openai_routes

        add_openai_routes(app, model, registry, counted, body_of)

    @app.get("/metrics")
    async def metrics() -> Any:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def split_binary(body: bytes, header_length: int | None) -> tuple[dict[str, Any], bytes]:
    """(the JSON request, the binary tensor bytes that follow it when the client used the extension)."""
    head = body if header_length is None else body[:header_length]
    try:
        payload = json.loads(head or b"{}")
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the request is not JSON ({exc})") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise BadRequest('an inference request is JSON {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    return payload, b"" if header_length is None else body[header_length:]


def read_inputs(model: ServedModel, payload: dict[str, Any], blobs: bytes) -> dict[str, np.ndarray]:
    """Each request input as an array, checked against the model's: name, datatype, shape, element count."""
    expected = {t.name: t for t in model.inputs}
    feeds, offset = {}, 0
    for item in payload["inputs"]:
        name = item.get("name")
        if name not in expected:
            raise BadRequest(f"unknown input '{name}'; the model takes {', '.join(expected)}")
        want = expected[name]
        if item.get("datatype") != want.datatype:
            raise BadRequest(f"input '{name}' is {item.get('datatype')}; the model takes {want.datatype}")
        shape = item.get("shape")
        if not isinstance(shape, list) or len(shape) != len(want.shape) or any(
                not isinstance(d, int) or d < 0 or (w > 0 and d != w) for d, w in zip(shape, want.shape, strict=True)):
            raise BadRequest(f"input '{name}' has shape {shape}; the model takes {want.shape} (-1: any size)")
        dtype = np.dtype(NUMPY[want.datatype])
        size = (item.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            data = np.frombuffer(blobs[offset:offset + int(size)], dtype=dtype)
            offset += int(size)
        else:
            try:
                data = np.asarray(item.get("data"), dtype=dtype).reshape(-1)
            except (TypeError, ValueError) as exc:
                raise BadRequest(f"input '{name}' data is not {want.datatype} numbers ({exc})") from exc
        if data.size != int(np.prod(shape)):
            raise BadRequest(f"input '{name}' has {data.size} values for shape {shape}")
        feeds[name] = data.reshape(shape)
    missing = [n for n in expected if n not in feeds]
    if missing:
        raise BadRequest(f"missing input '{missing[0]}'; the model takes {', '.join(expected)}")
    return feeds


def respond(model: ServedModel, payload: dict[str, Any], outputs: dict[str, np.ndarray]) -> Any:
    """The infer response: the requested outputs (default all), as JSON, or binary where the client asked."""
    from fastapi.responses import JSONResponse, Response

    from edgeconv.serve.model import DATATYPES

    wanted = payload.get("outputs") or [{"name": n} for n in outputs]
    unknown = [w.get("name") for w in wanted if w.get("name") not in outputs]
    if unknown:
        raise BadRequest(f"unknown output '{unknown[0]}'; the model has {', '.join(outputs)}")
    items, blobs = [], []
    for w in wanted:
        value = np.ascontiguousarray(outputs[w["name"]])
        item = {"name": w["name"], "datatype": DATATYPES.get(value.dtype.name, "FP32"), "shape": list(value.shape)}
        if (w.get("parameters") or {}).get("binary_data"):
            blobs.append(value.tobytes())
            item["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            item["data"] = value.reshape(-1).tolist()
        items.append(item)
    body = {"model_name": model.name, "model_version": "1", "outputs": items}
    if "id" in payload:
        body["id"] = payload["id"]
    if not blobs:
        return JSONResponse(body)
    head = json.dumps(body).encode()
    return Response(head + b"".join(blobs), media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(len(head))})
