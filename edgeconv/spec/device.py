"""The ``device:`` section of a target profile: how to reach a board over SSH, and what to expect there.

Safe by default: the host key must already be in ``known_hosts`` (``ssh-keyscan`` it once, after
checking the fingerprint on the board); ``accept_unknown_host_key: true`` trusts a host seen for the
first time and records its key, but a *changed* key is always refused.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class JumpHost(BaseModel):
    """A bastion the device is reached through (``ssh -J``); same key and known_hosts file."""

    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str | None = None


class DeviceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None  # a label for report rows; defaults to user@host:port
    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str
    key_file: Path  # private key; no passwords, no agent: the profile says exactly which key is used
    known_hosts: Path  # host keys this device may present
    workdir: str = "/tmp/edgeconv"  # remote folder: a content-addressed cache plus one folder per run
    jump_host: JumpHost | None = None
    python: str = "python3"  # the device's interpreter with numpy and the runtime
    trtexec: str | None = None  # trtexec's path on the device; default: found by the probe
    arch: str | None = None  # expected `uname -m`, e.g. aarch64; None accepts any
    tegrastats: str | None = "tegrastats"  # sampled during the run when present on the device; None disables
    tegrastats_interval_ms: int = Field(500, ge=100)
    throttle_temp_c: float = 85.0  # a sensor at or above this during the run flags throttling
    connect_timeout_s: float = Field(15.0, gt=0)
    command_timeout_s: float = Field(1800.0, gt=0)
    retries: int = Field(2, ge=0, le=10)  # reconnect attempts after a dropped connection
    accept_unknown_host_key: bool = False
    keep_cache: bool = True  # keep pushed files (by sha256) on the device so the next run skips them

    @field_validator("workdir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "":
            raise ValueError("workdir must be an absolute folder other than /, e.g. /tmp/edgeconv")
        return value.rstrip("/")

    @property
    def label(self) -> str:
        return self.name or f"{self.user}@{self.host}:{self.port}"
