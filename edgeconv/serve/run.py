"""`edgeconv serve` as one library call: the build's chosen artifact (or a model file) loaded through its recorded
runner and served over HTTP until stopped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeconv.errors import RuntimeUnavailable
from edgeconv.serve.batching import BatchSettings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposed(host: str) -> bool:
    """Binding ``host`` makes the model reachable from the network (edgeconv serve has no authentication)."""
    return host not in LOOPBACK


def serve(source: Path, target: str | None = None, precision: str | None = None, host: str = "127.0.0.1",
          port: int = 8080, max_request_mb: float = 16, threads: int | None = None,
          on_ready: Callable[[Any], None] | None = None, batching: BatchSettings | None = None) -> None:
    """Serve ``source`` (a build folder's chosen artifact for ``target``/``precision``, an .onnx/.tflite file or an
    ONNX Runtime GenAI folder) on ``host:port``, joining concurrent tensor requests as ``batching`` says (default:
    ``BatchSettings()``); ``on_ready(model)`` runs once it is loaded and configured, before the server starts.
    Blocks until stopped."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise RuntimeUnavailable(f"edgeconv serve needs the serve extra ({exc.name} is missing)",
                                 fix="pip install 'edgeconv[serve]'") from exc
    from edgeconv.serve.app import create_app
    from edgeconv.serve.model import load_model

    batching = batching or BatchSettings()
    model = load_model(source, target, precision, threads, batching.instances)
    app = create_app(model, int(max_request_mb * 1e6), batching)
    if on_ready is not None:
        on_ready(model)
    uvicorn.run(app, host=host, port=port, log_level="warning")
