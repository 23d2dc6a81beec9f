"""`edgeconv serve` as a real server on loopback, talked to over plain HTTP and with Triton's own v2 client:
a small build here; the sample's (logits against its verified outputs, 1,000 concurrent requests) below."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeconv.verify.measure import load_outputs
from tests.fakebuild import TARGET, make_build

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'edgeconv[serve]')")


@contextmanager
def server(source: Path, *args: str) -> Iterator[str]:
    """`edgeconv serve SOURCE` on a free loopback port; yields its base URL, stops it after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "edgeconv.cli", "serve", str(source), "--port", str(port),
                                *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                raise AssertionError(f"the server exited: {process.stderr.read() if process.stderr else ''}")
            try:
                if call(url + "/v2/health/live")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def call(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, parsed JSON) of a GET, or a POST of ``body`` (JSON-encoded unless bytes)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    build = make_build(tmp_path_factory.mktemp("serve") / "out")
    with server(build, "--max-request-mb", "0.01", "--max-queue-delay-ms", "20") as url:
        yield url, build


def tensor(name: str, array: np.ndarray, datatype: str = "FP32") -> dict[str, Any]:
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": array.reshape(-1).tolist()}


def test_health_and_metadata(tiny: tuple[str, Path]) -> None:
    url, _ = tiny
    assert call(url + "/v2/health/live") == (200, {"live": True})
    assert call(url + "/v2/health/ready") == (200, {"ready": True})
    status, meta = call(url + "/v2/models/tiny")
    assert status == 200 and meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 8]}]
    assert meta["outputs"][0]["name"] == "logits"
    assert call(url + "/v2/models/other")[0] == 404


def test_infer_answers_the_chosen_artifacts_outputs(tiny: tuple[str, Path]) -> None:
    url, build = tiny
    x = np.load(build / "data" / "eval.npz")["x"][:3]
    status, answer = call(url + "/v2/models/tiny/infer", {"id": "7", "inputs": [tensor("x", x)]})
    assert status == 200 and answer["id"] == "7"
    (logits,) = answer["outputs"]
    verified = load_outputs(build / "verify" / f"{TARGET}-fp32")["logits"][:3]  # the build's choice: fp32
    np.testing.assert_allclose(np.reshape(logits["data"], logits["shape"]), verified, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("change", "status", "message"), [
    (lambda t: {**t, "name": "y"}, 400, "unknown input 'y'; the model takes x"),
    (lambda t: {**t, "datatype": "INT64"}, 400, "input 'x' is INT64; the model takes FP32"),
    (lambda t: {**t, "shape": [1, 7]}, 400, "input 'x' has shape [1, 7]; the model takes [-1, 8]"),
    (lambda t: {**t, "data": t["data"][:-1]}, 400, "input 'x' has 7 values for shape [1, 8]"),
    (lambda t: {**t, "data": ["a"] * 8}, 400, "input 'x' data is not FP32 numbers"),
])
def test_bad_tensors_are_4xx_and_the_server_lives_on(tiny: tuple[str, Path], change: Any, status: int,
                                                      message: str) -> None:
    url, _ = tiny
    good = tensor("x", np.zeros((1, 8), np.float32))
    code, answer = call(url + "/v2/models/tiny/infer", {"inputs": [change(good)]})
    assert code == status and answer["error"].startswith(message)
    assert call(url + "/v2/models/tiny/infer", {"inputs": [good]})[0] == 200


def test_oversized_and_malformed_requests_are_refused(tiny: tuple[str, Path]) -> None:
    url, _ = tiny
    big = tensor("x", np.zeros((2000, 8), np.float32))  # over the 10 kB limit this server was started with
    code, answer = call(url + "/v2/models/tiny/infer", {"inputs": [big]})
    assert code == 413 and "over the 10000-byte limit" in answer["error"]
    assert call(url + "/v2/models/tiny/infer", b"not json")[0] == 400
    code, answer = call(url + "/v2/models/tiny/predict", {"text": "hello"})
    assert code == 400 and answer["error"].startswith("this model does not take text")
    assert call(url + "/v2/health/ready")[0] == 200


def test_metrics_count_requests_by_status(tiny: tuple[str, Path]) -> None:
    url, _ = tiny
    call(url + "/v2/models/tiny/infer", {"inputs": [tensor("x", np.zeros((1, 8), np.float32))]})
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    assert 'edgeconv_requests_total{code="200",endpoint="infer"}' in text
    assert "edgeconv_inference_seconds_count" in text


def test_concurrent_requests_are_batched_and_answered_as_one_at_a_time(tiny: tuple[str, Path]) -> None:
    url, build = tiny
    x = np.load(build / "data" / "eval.npz")["x"]
    rows = [x[i % len(x)][None] + i for i in range(24)]  # distinct rows: a mixed-up split would show
    alone = [call(url + "/v2/models/tiny/infer", {"inputs": [tensor("x", r)]})[1] for r in rows]
    with ThreadPoolExecutor(max_workers=12) as pool:
        together = list(pool.map(lambda r: call(url + "/v2/models/tiny/infer", {"inputs": [tensor("x", r)]}), rows))
    assert [status for status, _ in together] == [200] * len(rows)
    for one, (_, many) in zip(alone, together, strict=True):
        np.testing.assert_allclose(many["outputs"][0]["data"], one["outputs"][0]["data"], rtol=1e-5, atol=1e-6)
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    sizes = {m[0]: float(m[1]) for m in re.findall(r'edgeconv_batch_size_bucket\{le="([^"]+)"\} (\S+)', text)}
    assert sizes["1.0"] < sizes["+Inf"], "no runtime call joined two requests"
    assert "edgeconv_queue_seconds_count" in text


def test_a_dynamic_int8_artifact_is_never_batched_since_each_answer_would_depend_on_its_batch_mates(
        tiny: tuple[str, Path]) -> None:
    from edgeconv.serve.batching import BatchSettings
    from edgeconv.serve.model import load_model

    _, build = tiny
    artifacts = sorted((build / "artifacts").glob("*/model.onnx"))
    fp32, int8 = (next(p for p in artifacts if p.parent.name.endswith(s)) for s in ("-fp32", "-int8-dynamic"))
    assert load_model(fp32, None, None, 1).configure(BatchSettings(max_batch=8)).max_batch == 8
    model = load_model(int8, None, None, 1)
    assert model.configure(BatchSettings(max_batch=8, instances=2)) == BatchSettings(1, 0.002, 2)
    assert "DynamicQuantizeLinear scales each input over the whole batch" in (model.not_batched or "")


def test_concurrent_onnx_runtime_calls_share_the_cores_and_an_explicit_thread_count_stands(
        tiny: tuple[str, Path]) -> None:
    from edgeconv.machine import physical_cores
    from edgeconv.serve.model import load_model

    _, build = tiny
    fp32 = next(p for p in (build / "artifacts").glob("*/model.onnx") if p.parent.name.endswith("-fp32"))
    assert load_model(fp32, None, None, None, instances=2).runner.threads == max(1, physical_cores() // 2)
    assert load_model(fp32, None, None, None).runner.threads == physical_cores()
    assert load_model(fp32, None, None, 3, instances=2).runner.threads == 3
    assert load_model(build, None, "fp32", None, instances=2).runner.threads == max(1, physical_cores() // 2)


def test_a_non_loopback_bind_is_warned_about_and_a_missing_source_is_exit_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tests.cligroup import cli

    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "nothing.onnx")])
    assert result.exit_code == 2 and "does not exist" in result.output
    (tmp_path / "notes.txt").write_text("x")
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "notes.txt")])
    assert result.exit_code == 2 and "cannot serve" in result.output and "Traceback" not in result.output


# ---- the sample, as the issue asks: tritonclient, exact logits, 1,000 concurrent requests ---------------------


@pytest.fixture(scope="module")
def sample(sample_build: tuple[int, Path]) -> Iterator[tuple[str, Path]]:
    _, out = sample_build
    with server(out) as url:
        yield url, out


@pytest.mark.slow
@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_gets_the_verified_logits(sample: tuple[str, Path], binary: bool) -> None:
    httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is in the dev extra")
    url, out = sample
    from edgeconv.bundle.make import choice
    from edgeconv.results import read_report

    report = read_report(out / "report.json")
    precision = choice(report, "x86-cpu-ort", [a for a in report.artifacts if a.status == "passed"])
    verified = load_outputs(out / "verify" / f"x86-cpu-ort-{precision}")["logits"]
    feeds = np.load(out / "data" / "eval.npz")
    client = httpclient.InferenceServerClient(url.removeprefix("http://"))
    assert client.is_server_ready() and client.is_model_ready("tweet-sentiment")
    for i in range(4):
        inputs = []
        for name in ("input_ids", "attention_mask", "token_type_ids"):
            item = httpclient.InferInput(name, [1, feeds[name].shape[1]], "INT64")
            item.set_data_from_numpy(feeds[name][i : i + 1], binary_data=binary)
            inputs.append(item)
        result = client.infer("tweet-sentiment", inputs,
                              outputs=[httpclient.InferRequestedOutput("logits", binary_data=binary)])
        np.testing.assert_array_equal(result.as_numpy("logits")[0], verified[i])  # same runtime: exact


@pytest.mark.slow
def test_raw_text_is_preprocessed_as_the_build_did(sample: tuple[str, Path]) -> None:
    url, out = sample
    text = json.loads((out / "device" / "golden.json").read_text())["raw"][0]
    status, answer = call(url + "/v2/models/tweet-sentiment/predict", {"text": text})
    assert status == 200
    logits = np.asarray(answer["outputs"]["logits"][0])
    assert answer["label"] == ["negative", "positive"][int(np.argmax(logits))]


@pytest.mark.slow
def test_1000_concurrent_requests_all_answered(sample: tuple[str, Path]) -> None:
    url, out = sample
    feeds = np.load(out / "data" / "eval.npz")
    body = {"inputs": [tensor(n, feeds[n][:1], "INT64") for n in ("input_ids", "attention_mask", "token_type_ids")]}
    assert call(url + "/v2/health/ready")[0] == 200
    with ThreadPoolExecutor(max_workers=32) as pool:  # bounded: 32 clients at a time, loopback only
        statuses = list(pool.map(lambda _: call(url + "/v2/models/tweet-sentiment/infer", body)[0], range(1000)))
    assert statuses == [200] * 1000
    assert call(url + "/v2/health/ready") == (200, {"ready": True})
