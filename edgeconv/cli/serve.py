"""`edgeconv serve OUT_DIR|ARTIFACT`: serve a verified artifact on loopback (Open Inference Protocol v2), one
library call (``edgeconv.serve.run.serve``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgeconv.serve.batching import BatchSettings

DEFAULTS = BatchSettings()


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
@click.option("--max-batch-size", type=click.IntRange(1, 1024), default=DEFAULTS.max_batch, show_default=True,
              help="Most rows the dynamic batcher joins into one runtime call (1: no batching).")
@click.option("--max-queue-delay-ms", type=click.FloatRange(0, 1000), default=DEFAULTS.max_delay_s * 1e3,
              show_default=True, help="Longest a request waits for others to join its batch.")
@click.option("--instances", type=click.IntRange(1, 64), default=DEFAULTS.instances, show_default=True,
              help="Runtime calls in flight at once (ONNX Runtime only; LiteRT interpreters take one).")
def serve_command(source: Path, target: str | None, precision: str | None, host: str, port: int,
                  max_request_mb: float, threads: int | None, max_batch_size: int, max_queue_delay_ms: float,
                  instances: int) -> None:
    """Serve SOURCE (a build folder's chosen artifact, an .onnx/.tflite file, or an ONNX Runtime GenAI folder)
    over HTTP: /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/infer, /v2/models/NAME/predict
    (raw text or an image), /metrics; concurrent tensor requests are joined into batches (Triton-style dynamic
    batching) where the artifact takes a free batch dimension; a text-generation model answers the
    OpenAI-compatible /v1/chat/completions, /v1/completions and /v1/models instead of infer and predict (greedy
    decoding, one request at a time)."""
    from edgeconv.serve.generative import GenerativeModel
    from edgeconv.serve.run import exposed, serve

    def announce(model: Any) -> None:
        if exposed(host):
            click.echo(f"warning: binding {host}: the model is reachable from the network, with no authentication",
                       err=True)
        where = "/v1 (OpenAI-compatible)" if isinstance(model, GenerativeModel) else f"/v2/models/{model.name}"
        click.echo(f"serving '{model.name}' ({model.platform}) on http://{host}:{port}{where}", err=True)
        if not isinstance(model, GenerativeModel):
            b = model.batching
            joined = (f"up to {b.max_batch} rows per call, waiting at most {b.max_delay_s * 1e3:g} ms"
                      if model.not_batched is None else f"requests not joined: {model.not_batched}")
            click.echo(f"dynamic batching: {joined}; {b.instances} call(s) at once", err=True)

    serve(source, target, precision, host, port, max_request_mb, threads, on_ready=announce,
          batching=BatchSettings(max_batch_size, max_queue_delay_ms / 1e3, instances))
