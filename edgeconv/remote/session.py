"""One run on a device: push what is missing, run a command in a fresh run folder, pull results, clean up.

``run_on_device`` is the general seam (the TensorRT engineer's ``trtexec`` argv runs through it);
``edgeconv.remote.verify`` uses it for the verify worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from edgeconv.remote.bundle import Item
from edgeconv.remote.connection import Device, connect
from edgeconv.remote.errors import CONNECTION_LOST, DISK_FULL, UNREACHABLE, RemoteError
from edgeconv.remote.probe import probe
from edgeconv.spec.device import DeviceConfig

RETRYABLE = {UNREACHABLE, CONNECTION_LOST}
DISK_MARGIN_BYTES = 64 << 20  # room for outputs, logs and bytecode beyond what is pushed

# $1 cache dir, then shas: print "sha  name" for each cached file that exists (sha256sum checks content)
_HASHES = 'cd "$1" 2>/dev/null || exit 0; shift; for f in "$@"; do [ -f "$f" ] && sha256sum -- "$f"; done; exit 0'
# $1 run dir, then pairs (cache file, path in run dir): hard-link (copy across file systems)
_LINK = ('cd "$1" || exit 1; shift; while [ $# -gt 1 ]; do mkdir -p "$(dirname "$2")" && '
         '{ ln -f "$1" "$2" 2>/dev/null || cp "$1" "$2"; } || exit 1; shift 2; done')


@dataclass
class RunContext:
    """What a run's steps see: the connection, the run folder and the device facts."""

    device: Device
    run_dir: str
    facts: dict[str, Any]
    pushed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def path(self, rel: str) -> str:
        return str(PurePosixPath(self.run_dir) / rel)


Step = Callable[[RunContext], Awaitable[Any]]


async def push(ctx: RunContext, items: list[Item]) -> None:
    """Upload files whose sha256 is not already in the device's cache, then link them into the run folder."""
    device, config = ctx.device, ctx.device.config
    cache = f"{config.workdir}/cache"
    shas = sorted({i.sha256 for i in items})
    listed = await device.script(_HASHES, args=[cache, *shas])
    present = {line.split()[0] for line in listed.stdout.splitlines()
               if len(line.split()) == 2 and line.split()[0] == line.split()[1].lstrip("*")}
    missing = {i.sha256: i for i in items if i.sha256 not in present}
    need = sum(i.size for i in missing.values()) + DISK_MARGIN_BYTES
    free = ctx.facts.get("disk_free_bytes")
    if free is not None and free < need:
        raise RemoteError(DISK_FULL, f"{config.label} has {free >> 20} MB free in {config.workdir}, "
                          f"the push needs {need >> 20} MB", fix="free space on the device or set device.workdir "
                          "to a larger disk", partial={"device": ctx.facts})
    await device.run(["mkdir", "-p", cache, ctx.run_dir])
    for sha, i in missing.items():
        part = f"{cache}/{sha}.part"
        await device.put(i.local, part)
        await device.run(["mv", "-f", part, f"{cache}/{sha}"])
    ctx.pushed = sorted(i.rel for i in items if i.sha256 in missing)
    ctx.skipped = sorted(i.rel for i in items if i.sha256 not in missing)
    pairs = [x for i in items for x in (f"{cache}/{i.sha256}", i.rel)]
    await device.script(_LINK, args=[ctx.run_dir, *pairs], check=True)


async def put_json(ctx: RunContext, rel: str, value: Any, scratch: Path) -> str:
    local = scratch / PurePosixPath(rel).name
    local.write_text(json.dumps(value))
    remote = ctx.path(rel)
    await ctx.device.put(local, remote)
    return remote


async def _attempt(config: DeviceConfig, steps: Step, facts_out: dict[str, Any]) -> Any:
    device = await connect(config)
    ctx: RunContext | None = None
    try:
        facts = await probe(device)
        facts_out.update(facts)
        ctx = RunContext(device, f"{config.workdir}/runs/{uuid.uuid4().hex[:12]}", facts)
        return await steps(ctx)
    finally:
        if ctx is not None:
            await _cleanup(ctx)
        await device.close()


async def _cleanup(ctx: RunContext) -> None:
    """Remove the run folder (and the cache when the profile does not keep it); best effort."""
    config = ctx.device.config
    targets = [ctx.run_dir] if config.keep_cache else [ctx.run_dir, f"{config.workdir}/cache"]
    # If the link is gone this fails quietly: the next run uses a new folder, and the cache is by content.
    with contextlib.suppress(RemoteError):
        await ctx.device.run(["rm", "-rf", "--", *targets], timeout=60, check=False)


async def with_retries(config: DeviceConfig, steps: Step) -> tuple[Any, dict[str, Any]]:
    """Connect, probe and run ``steps``; a dropped or refused connection is retried ``config.retries`` times."""
    facts: dict[str, Any] = {}
    first: RemoteError | None = None
    for attempt in range(config.retries + 1):
        try:
            return await _attempt(config, steps, facts), facts
        except RemoteError as exc:
            if facts and "device" not in exc.partial:
                exc.partial["device"] = facts
            if first is None:
                first = exc
            if exc.status not in RETRYABLE or attempt == config.retries:
                raise _final(first, exc, attempt) from exc
            await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
    raise AssertionError("unreachable")  # the loop returns or raises


def _final(first: RemoteError, last: RemoteError, attempt: int) -> RemoteError:
    """A connection lost mid-run stays "connection_lost" even when the reconnects then find the device gone."""
    if first is last or first.status != CONNECTION_LOST:
        return last
    return RemoteError(CONNECTION_LOST, f"{first.message}; {attempt} reconnect attempt(s) failed, the last: "
                       f"{last.message}", fix=first.fix, partial={**first.partial, **last.partial})


def run_sync(coro: Awaitable[Any]) -> Any:
    """asyncssh is asynchronous; the build is not."""
    return asyncio.run(coro)  # type: ignore[arg-type]
