"""`edgeconv serve OUT_DIR|ARTIFACT`: serve a verified artifact on loopback (Open Inference Protocol v2), one
library call (``edgeconv.serve.run.serve``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.command("serve")
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.option("--target", help="The build's target to serve (default: its first).")
@click.option("--precision", help="The artifact's precision (default: the build's choice for the target).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; loopback by default (anything else is reachable from the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--max-request-mb", type=click.FloatRange(0.001, 1024), default=16, show_default=True,
              help="Largest request body; larger ones get 413.")
@click.option("--threads", type=click.IntRange(1, 256), help="Runtime threads (default: the target profile's).")
def serve_command(source: Path, target: str | None, precision: str | None, host: str, port: int,
                  max_request_mb: float, threads: int | None) -> None:
    """Serve SOURCE (a build folder's chosen artifact, an .onnx/.tflite file, or an ONNX Runtime GenAI folder)
    over HTTP: /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/infer, /v2/models/NAME/predict
    (raw text or an image), /metrics; a text-generation model answers the OpenAI-compatible /v1/chat/completions,
    /v1/completions and /v1/models instead of infer and predict (greedy decoding, one request at a time)."""
    from edgeconv.serve.generative import GenerativeModel
    from edgeconv.serve.run import exposed, serve

    def announce(model: Any) -> None:
        if exposed(host):
            click.echo(f"warning: binding {host}: the model is reachable from the network, with no authentication",
                       err=True)
        where = "/v1 (OpenAI-compatible)" if isinstance(model, GenerativeModel) else f"/v2/models/{model.name}"
        click.echo(f"serving '{model.name}' ({model.platform}) on http://{host}:{port}{where}", err=True)

    serve(source, target, precision, host, port, max_request_mb, threads, on_ready=announce)
