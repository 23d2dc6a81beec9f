"""Verify one artifact on a device: the same worker as local runs, so the same result.json comes back.

``verify_remote`` returns what ``edgeconv.verify.measure.run_worker`` returns (plus ``device``,
``tegrastats`` and ``remote`` keys), with ``outputs.npy`` and ``result.json`` in ``folder``; the
build then scores it with ``edgeconv.verify.measure.score`` exactly as a local run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from edgeconv.errors import SpecError
from edgeconv.fsutil import write_json
from edgeconv.remote import bundle
from edgeconv.remote.errors import DISK_FULL, REMOTE_FAILED, RemoteError
from edgeconv.remote.probe import check_requirements
from edgeconv.remote.session import RunContext, push, put_json, run_sync, with_retries
from edgeconv.remote.tegrastats import parse_line, summarize
from edgeconv.results import RunnerSpec
from edgeconv.spec import LatencySpec
from edgeconv.spec.device import DeviceConfig
from edgeconv.verify.measure import worker_request

# $1 tegrastats, $2 interval ms, $3 log file: start it in the background, print its pid
_TEGRASTATS_START = '"$1" --interval "$2" --logfile "$3" >/dev/null 2>&1 </dev/null & echo $!'


def device_of(profile: Any) -> DeviceConfig:
    device = getattr(profile, "device", None)
    if device is None:
        raise SpecError(f"target '{profile.name}' has no device section",
                        fix="add device: {host, user, key_file, known_hosts} to the target profile")
    return device


def verify_remote(profile: Any, runner: RunnerSpec, artifact: Path, feeds: Path, latency: LatencySpec,
                  folder: Path, device: DeviceConfig | None = None) -> dict[str, Any]:
    """Run the verify worker for ``artifact`` on the profile's device; write outputs.npy + result.json."""
    config = device or device_of(profile)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = [*bundle.runner_items(runner.runner), *bundle.artifact_items(Path(artifact)),
             bundle.item(Path(feeds), "eval.npz")]

    async def steps(ctx: RunContext) -> dict[str, Any]:
        check_requirements(ctx.facts, config, profile.backend, list(profile.requires))
        await push(ctx, items)
        kwargs = {**runner.kwargs, "path": ctx.path(f"artifact/{Path(artifact).name}")}
        request = worker_request(RunnerSpec(runner.runner, kwargs), ctx.path("eval.npz"), latency, ctx.path("out"))
        with tempfile.TemporaryDirectory(prefix="edgeconv-remote-") as scratch:
            request_path = await put_json(ctx, "request.json", request, Path(scratch))
        pid, log = await _start_tegrastats(ctx)
        try:
            proc = await ctx.device.run([config.python, "-m", "edgeconv.verify.worker", request_path],
                                        cwd=ctx.path("pkg"), env={"PYTHONDONTWRITEBYTECODE": "1"}, check=False)
        finally:
            samples = await _stop_tegrastats(ctx, pid, log, folder)
        if proc.exit_status != 0:
            why = proc.last_line()
            status = DISK_FULL if "No space left" in proc.stderr else REMOTE_FAILED
            raise RemoteError(status, f"verifying {Path(artifact).name} on {config.label} failed: {why}",
                              partial={"device": ctx.facts, "tegrastats": summarize(samples, config.throttle_temp_c)})
        await ctx.device.get(ctx.path("out/outputs.npy"), folder / "outputs.npy")
        await ctx.device.get(ctx.path("out/outputs.npz"), folder / "outputs.npz")
        await ctx.device.get(ctx.path("out/result.json"), folder / "result.json")
        result = json.loads((folder / "result.json").read_text())
        result["tegrastats"] = summarize(samples, config.throttle_temp_c)
        result["remote"] = {"device": config.label, "run_dir": ctx.run_dir, "pushed": ctx.pushed,
                            "skipped": ctx.skipped}
        return result

    result, facts = run_sync(with_retries(config, steps))
    result["device"] = facts
    write_json(folder / "result.json", result)
    return result


async def _start_tegrastats(ctx: RunContext) -> tuple[str | None, str | None]:
    tool = ctx.facts.get("tegrastats")
    if not tool:
        return None, None
    log = ctx.path("tegrastats.log")
    config = ctx.device.config
    started = await ctx.device.script(_TEGRASTATS_START, 30, args=[tool, str(config.tegrastats_interval_ms), log])
    pid = started.stdout.strip().splitlines()[-1] if started.stdout.strip() else ""
    return (pid if pid.isdigit() else None), log


async def _stop_tegrastats(ctx: RunContext, pid: str | None, log: str | None, folder: Path) -> list[dict[str, Any]]:
    """Kill the sampler (by its pid only) and pull its log; samples are kept even if the run failed."""
    if not pid or not log:
        return []
    try:
        await ctx.device.run(["kill", pid], timeout=30, check=False)
        await ctx.device.get(log, folder / "tegrastats.log")
    except RemoteError:
        return []
    lines = (folder / "tegrastats.log").read_text(errors="replace").splitlines()
    return [s for s in (parse_line(line) for line in lines) if s]



def probe_device(config: DeviceConfig) -> dict[str, Any]:
    """Connect and describe the device (architecture, L4T, TensorRT, runtimes, power mode, clocks, disk)."""

    async def nothing(ctx: RunContext) -> None:
        return None

    _, facts = run_sync(with_retries(config, nothing))
    return facts


def run_on_device(config: DeviceConfig, argv_for: Callable[[str], list[str]], inputs: list[Path],
                  outputs: list[str], folder: Path, timeout: float | None = None) -> dict[str, Any]:
    """The seam for other device commands (``trtexec`` from edgeconv.backends.tensorrt.trtexec): push ``inputs``
    (skipping cached ones) into a fresh run folder, run ``argv_for(run_dir)`` there (each argument
    quoted), pull ``outputs`` (paths relative to the run folder) into ``folder``; stdout/stderr come
    back for the caller's parser. A non-zero exit is a RemoteError("remote_failed")."""
    items = [bundle.item(Path(p), f"in/{Path(p).name}") for p in inputs]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    async def steps(ctx: RunContext) -> dict[str, Any]:
        await push(ctx, items)
        proc = await ctx.device.run(argv_for(ctx.run_dir), timeout=timeout, cwd=ctx.run_dir, check=False)
        if proc.exit_status != 0:
            raise RemoteError(REMOTE_FAILED, f"`{argv_for(ctx.run_dir)[0]}` failed on {config.label}: "
                              f"{proc.last_line()}", partial={"device": ctx.facts, "stdout": proc.stdout[-4000:]})
        for rel in outputs:
            await ctx.device.get(ctx.path(rel), folder / PurePosixPath(rel).name)
        return {"exit_status": proc.exit_status, "stdout": proc.stdout, "stderr": proc.stderr}

    result, facts = run_sync(with_retries(config, steps))
    return {**result, "device": facts}
