"""An SSH connection to a device (asyncssh): host keys checked, arguments quoted, every failure named.

Why asyncssh and not a shelled-out ``ssh``: exceptions tell an unknown host key from a refused key
from a dropped link, which is what the report's distinct statuses are built on; and SFTP needs no
``scp`` parsing. Every command is an argv list joined with ``shlex.join`` — never a string we format.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.errors import RuntimeUnavailable, SpecError
from edgeconv.remote.errors import (
    AUTH_FAILED,
    CONNECTION_LOST,
    DISK_FULL,
    HOST_KEY_REJECTED,
    REMOTE_FAILED,
    TIMEOUT,
    UNREACHABLE,
    RemoteError,
)
from edgeconv.spec.device import DeviceConfig

TIMEOUT_EXIT = 124  # coreutils/busybox `timeout` exit status when it stopped the command
LOCAL_GRACE_S = 30.0  # local backstop beyond the remote `timeout`, for a link that goes silent


def _asyncssh() -> Any:
    try:
        import asyncssh
    except ImportError as exc:
        raise RuntimeUnavailable("verifying on a device needs asyncssh",
                                 fix="pip install 'edgeconv[ssh]'") from exc
    return asyncssh


@dataclass
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str

    def last_line(self) -> str:
        lines = [line for line in (self.stderr or self.stdout).strip().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {self.exit_status}"


def command_line(argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> str:
    """One shell line from an argv list: every argument quoted, nothing interpolated."""
    line = shlex.join([*(["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []), *argv])
    return f"cd {shlex.quote(cwd)} && exec {line}" if cwd else line


class Device:
    """An open connection: ``run`` an argv list with a timeout, ``put``/``get`` files over SFTP."""

    def __init__(self, config: DeviceConfig, conn: Any, tunnel: Any = None) -> None:
        self.config = config
        self.conn = conn
        self.tunnel = tunnel

    async def run(self, argv: list[str], timeout: float | None = None, cwd: str | None = None,
                  env: dict[str, str] | None = None, check: bool = True) -> CommandResult:
        """Run under the device's ``timeout`` so a hung command is stopped there, not left behind."""
        limit = timeout or self.config.command_timeout_s
        line = command_line(["timeout", str(int(max(1, round(limit)))), *argv], cwd, env)
        return await self._exec(line, limit, argv, check)

    async def script(self, script: str, timeout: float | None = None, args: list[str] | None = None,
                     check: bool = False) -> CommandResult:
        """Run a fixed ``sh`` script of ours; variable parts go in as quoted positional ``args`` ($1, $2...)."""
        limit = timeout or self.config.command_timeout_s
        argv = ["timeout", str(int(max(1, round(limit)))), "sh", "-c", script, "sh", *(args or [])]
        return await self._exec(shlex.join(argv), limit, ["sh"], check)

    async def _exec(self, line: str, limit: float, argv: list[str], check: bool) -> CommandResult:
        asyncssh = _asyncssh()
        try:
            proc = await asyncio.wait_for(self.conn.run(line, check=False), limit + LOCAL_GRACE_S)
        except (asyncio.TimeoutError, asyncssh.TimeoutError) as exc:
            raise RemoteError(TIMEOUT, f"`{argv[0]}` on {self.config.label} gave no answer within {limit:.0f} s",
                              fix="raise device.command_timeout_s, or check the device") from exc
        except (asyncssh.Error, OSError) as exc:
            raise lost(self.config, exc) from exc
        result = CommandResult(proc.exit_status if proc.exit_status is not None else -1,
                               str(proc.stdout or ""), str(proc.stderr or ""))
        if proc.exit_status is None and proc.exit_signal:  # e.g. the kernel's OOM killer
            raise RemoteError(REMOTE_FAILED,
                              f"`{argv[0]}` on {self.config.label} was killed by SIG{proc.exit_signal[0]}")
        if proc.exit_status is None:  # the channel closed without an exit status: the link went down
            raise RemoteError(CONNECTION_LOST, f"the connection to {self.config.label} was lost while `{argv[0]}` ran",
                              fix="check the device's network and power; the run is retried up to device.retries times")
        if result.exit_status == TIMEOUT_EXIT:
            raise RemoteError(TIMEOUT, f"`{argv[0]}` on {self.config.label} ran past {limit:.0f} s and was stopped",
                              fix="raise device.command_timeout_s, or check the device")
        if check and result.exit_status != 0:
            raise RemoteError(REMOTE_FAILED, f"`{argv[0]}` failed on {self.config.label}: {result.last_line()}")
        return result

    async def put(self, local: Path, remote: str) -> None:
        asyncssh = _asyncssh()
        try:
            async with self.conn.start_sftp_client() as sftp:
                await sftp.put(str(local), remote)
        except asyncssh.SFTPError as exc:
            raise RemoteError(_upload_status(exc), f"copying {local.name} to {self.config.label} failed: "
                              f"{exc.reason}") from exc
        except (asyncssh.Error, OSError) as exc:
            raise lost(self.config, exc) from exc

    async def get(self, remote: str, local: Path) -> None:
        asyncssh = _asyncssh()
        try:
            async with self.conn.start_sftp_client() as sftp:
                await sftp.get(remote, str(local))
        except (asyncssh.Error, OSError) as exc:
            raise lost(self.config, exc) from exc

    async def close(self) -> None:
        for conn in (self.conn, self.tunnel):
            if conn is not None:
                conn.close()
                with contextlib.suppress(asyncio.TimeoutError, OSError):
                    await asyncio.wait_for(conn.wait_closed(), 5)


def _upload_status(exc: Any) -> str:
    """OpenSSH's sftp-server reports ENOSPC as a bare SSH_FX_FAILURE (code 4): call it a full disk."""
    return DISK_FULL if "space" in str(exc.reason).lower() or getattr(exc, "code", None) == 4 else REMOTE_FAILED


def lost(config: DeviceConfig, exc: BaseException) -> RemoteError:
    return RemoteError(CONNECTION_LOST, f"the connection to {config.label} was lost: {_why(exc)}",
                       fix="check the device's network and power; the run is retried up to device.retries times")


def _why(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc).strip()
    return text or type(exc).__name__


async def connect(config: DeviceConfig) -> Device:
    """Open a connection (through the jump host if any); unknown or changed host keys are refused."""
    asyncssh = _asyncssh()
    key = Path(config.key_file).expanduser()
    if not key.is_file():
        raise SpecError(f"device key file {key} does not exist", fix="set device.key_file to your private key")
    known = Path(config.known_hosts).expanduser()
    if not known.is_file() and not config.accept_unknown_host_key:
        raise SpecError(f"device known_hosts file {known} does not exist",
                        fix=f"ssh-keyscan -p {config.port} {config.host} > {known} (check the fingerprint)")
    tunnel = None
    if config.jump_host is not None:
        jump = config.jump_host
        tunnel = await _open(asyncssh, config, jump.host, jump.port, jump.user or config.user, None)
    conn = await _open(asyncssh, config, config.host, config.port, config.user, tunnel)
    return Device(config, conn, tunnel)


async def _open(asyncssh: Any, config: DeviceConfig, host: str, port: int, user: str, tunnel: Any) -> Any:
    known = Path(config.known_hosts).expanduser()
    options: dict[str, Any] = {
        "username": user, "client_keys": [str(Path(config.key_file).expanduser())], "agent_path": None,
        "password": None, "kbdint_auth": False, "config": None, "connect_timeout": config.connect_timeout_s,
        "login_timeout": config.connect_timeout_s,
    }
    if tunnel is not None:
        options["tunnel"] = tunnel
    label = f"{user}@{host}:{port}"
    try:
        return await asyncssh.connect(host, port, known_hosts=str(known) if known.is_file() else (), **options)
    except asyncssh.HostKeyNotVerifiable as exc:
        if _host_listed(asyncssh, known, host, port):
            raise RemoteError(HOST_KEY_REJECTED, f"the host key of {label} does not match {known}: "
                              "it changed, or this is another machine",
                              fix="if the device was re-flashed, check its fingerprint and replace its line "
                                  f"in {known}") from exc
        if not config.accept_unknown_host_key:
            raise RemoteError(HOST_KEY_REJECTED, f"the host key of {label} is not in {known}",
                              fix=f"ssh-keyscan -p {port} {host} >> {known} after checking the fingerprint, "
                                  "or set device.accept_unknown_host_key: true") from exc
        return await _trust_on_first_use(asyncssh, known, host, port, options)
    except asyncssh.PermissionDenied as exc:
        raise RemoteError(AUTH_FAILED, f"{label} refused the key {config.key_file}",
                          fix=f"add its .pub to ~{user}/.ssh/authorized_keys on the device") from exc
    except (asyncssh.Error, OSError, asyncio.TimeoutError) as exc:
        raise RemoteError(UNREACHABLE, f"cannot reach {label}: {_why(exc)}",
                          fix="check device.host/port, that the device is on and sshd runs") from exc


def _host_listed(asyncssh: Any, known: Path, host: str, port: int) -> bool:
    if not known.is_file():
        return False
    entry = host if port == 22 else f"[{host}]:{port}"
    keys = asyncssh.read_known_hosts(str(known)).match(entry, "", port)
    return any(keys[:2])


async def _trust_on_first_use(asyncssh: Any, known: Path, host: str, port: int, options: dict[str, Any]) -> Any:
    """The profile allowed an unknown host: connect once unchecked, then record the key it showed."""
    conn = await asyncssh.connect(host, port, known_hosts=None, **options)
    server_key = conn.get_server_host_key()
    entry = host if port == 22 else f"[{host}]:{port}"
    known.parent.mkdir(parents=True, exist_ok=True)
    with known.open("a", encoding="utf-8") as f:
        f.write(f"{entry} {server_key.export_public_key('openssh').decode().strip()}\n")
    return conn
