"""The remote stage cache against a real S3-compatible server (moto's, started on loopback by the test): a second
runner downloads what the first built; a corrupted object is refused and rebuilt; a connection dropped mid-upload
fails no build and leaves no pointer behind."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeconv.api import build
from edgeconv.spec import load_spec

pytest.importorskip("s3fs")
pytest.importorskip("moto")
BUCKET = "edgeconv-cache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server(monkeypatch: pytest.MonkeyPatch, unauthenticated_calls: int | None = None) -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 with a bucket; its endpoint. With ``unauthenticated_calls``,
    moto enforces IAM after that many requests (the set-up's), as S3 does."""
    port = free_port()
    env = {**os.environ, **({"INITIAL_NO_AUTH_ACTION_COUNT": str(unauthenticated_calls)}
                            if unauthenticated_calls is not None else {})}
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with moto_server(monkeypatch) as endpoint:
        yield endpoint


def objects() -> dict[str, bytes]:
    import boto3

    client = boto3.client("s3")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {k: client.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


def runner_build(project: Path, runner: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """A build on a fresh 'runner': its own local cache and output folder; returns the stage events."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # another process would open its own connections
    monkeypatch.setenv("EDGECONV_CACHE_DIR", str(project / runner / "cache"))
    events: list[tuple[str, str]] = []
    result = build(load_spec(project / "edgeconv.yaml"), out=project / runner / "out",
                   on_event=lambda stage, event: events.append((stage, event)))
    assert result.passed
    return events


def started(events: list[tuple[str, str]]) -> set[str]:
    return {stage for stage, event in events if event == "start"}


def test_a_second_runner_downloads_instead_of_rebuilding(tiny_project: Path, s3: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECONV_CACHE_URL", f"s3://{BUCKET}/edgeconv")
    first = runner_build(tiny_project, "runner-a", monkeypatch)
    built = started(first)
    assert {"export", "data"} <= built and any(s.startswith("artifacts/") for s in built)
    assert {s for s, e in first if e == "uploaded"} == built
    pointers = [k for k in objects() if k.endswith(".json")]
    assert len(pointers) == len(built)

    second = runner_build(tiny_project, "runner-b", monkeypatch)
    assert started(second) == set()  # nothing re-ran: every stage came from the remote cache
    assert {s for s, e in second if e == "downloaded"} == built
    shas = [json.loads(f.read_text())["key"] for f in (tiny_project / "runner-b" / "cache").rglob("stage.json")]
    assert len(shas) == len(built)  # every entry landed in the second runner's local cache, key intact


def test_a_corrupted_object_is_refused_and_rebuilt(tiny_project: Path, s3: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("EDGECONV_CACHE_URL", f"s3://{BUCKET}/edgeconv")
    runner_build(tiny_project, "runner-a", monkeypatch)
    (tar,) = [k for k in objects() if k.startswith("edgeconv/stages/export/") and k.endswith(".tar")]
    body = bytearray(objects()[tar])
    body[len(body) // 3] ^= 0xFF
    boto3.client("s3").put_object(Bucket=BUCKET, Key=tar, Body=bytes(body))

    events = runner_build(tiny_project, "runner-b", monkeypatch)
    refused = [e for s, e in events if s == "export" and e.startswith("remote: refused")]
    assert refused and "corrupted or truncated" in refused[0]
    assert "export" in started(events)  # rebuilt here, never used
    assert ("data", "downloaded") in events  # the sound entries still came down


class DroppingProxy:
    """A TCP proxy to the S3 server that cuts a connection once a client has sent more than ``limit`` bytes on it
    (a request body of that size: the entry tars, never the small pointers or GETs) while ``dropping``."""

    def __init__(self, upstream_port: int, limit: int = 4096) -> None:
        self.upstream, self.limit, self.dropping, self.dropped = upstream_port, limit, True, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upload: bool) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                sent += len(data)
                if upload and self.dropping and sent > self.limit:
                    self.dropped += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_a_dropped_upload_fails_no_build_and_leaves_no_pointer(tiny_project: Path, s3: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = DroppingProxy(int(s3.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's retries: the test need not wait out the default
    monkeypatch.setenv("EDGECONV_CACHE_URL", f"s3://{BUCKET}/edgeconv")
    events = runner_build(tiny_project, "runner-a", monkeypatch)
    failed = [e for _, e in events if e.startswith("remote: upload")]
    assert proxy.dropped > 0 and failed and "failed" in failed[0]
    assert not [k for k in objects() if k.endswith(".json")]  # no pointer to a half-written entry

    proxy.dropping = False
    again = runner_build(tiny_project, "runner-b", monkeypatch)
    assert not [e for e in again if e[1] == "downloaded"] and "export" in started(again)
    assert ("export", "uploaded") in again


def test_a_store_that_is_down_is_said_once_and_the_build_goes_on(tiny_project: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1",
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
                       "EDGECONV_CACHE_URL": f"s3://{BUCKET}/edgeconv"}.items():
        monkeypatch.setenv(key, value)
    events = runner_build(tiny_project, "runner-a", monkeypatch)
    said = [e for _, e in events if e.startswith("remote: ")]
    assert len(said) == 1 and "cannot read" in said[0] and "goes on without it" in said[0]
    assert "export" in started(events)


def iam_user(name: str, actions: list[str]) -> dict[str, str]:
    """An IAM user allowed ``actions`` on every resource; its credentials as environment variables."""
    import boto3

    iam = boto3.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="cache", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def test_read_only_credentials_download_and_never_upload(tiny_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the bucket and two users are the 7 unauthenticated calls; every later request is checked against IAM
    with moto_server(monkeypatch, unauthenticated_calls=7):
        writer = iam_user("ci-main", ["s3:*"])
        reader = iam_user("ci-fork", ["s3:GetObject", "s3:ListBucket"])
        monkeypatch.setenv("EDGECONV_CACHE_URL", f"s3://{BUCKET}/edgeconv")

        for key, value in reader.items():
            monkeypatch.setenv(key, value)
        alone = runner_build(tiny_project, "fork-first", monkeypatch)  # nothing to read yet; may not write
        said = [e for _, e in alone if e.startswith("remote: ")]
        assert len(said) == 1 and "read-only here" in said[0] and "not uploading" in said[0]
        assert not [e for e in alone if e[1] == "uploaded"]

        for key, value in writer.items():
            monkeypatch.setenv(key, value)
        built = started(runner_build(tiny_project, "main", monkeypatch))
        for key, value in reader.items():
            monkeypatch.setenv(key, value)
        fork = runner_build(tiny_project, "fork-second", monkeypatch)
        assert started(fork) == set() and {s for s, e in fork if e == "downloaded"} == built
