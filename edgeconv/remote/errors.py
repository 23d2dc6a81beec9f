"""One error for every way a device run can fail, each with a distinct ``status`` for the report.

A RemoteError is a StageError, so the build records it on that artifact and goes on with the
others; ``partial`` carries whatever was already measured (device facts, tegrastats samples).
"""

from __future__ import annotations

from typing import Any

from edgeconv.errors import ExitCode, StageError

UNREACHABLE = "unreachable"
AUTH_FAILED = "auth_failed"
HOST_KEY_REJECTED = "host_key_rejected"
CONNECTION_LOST = "connection_lost"
TIMEOUT = "timeout"
DISK_FULL = "disk_full"
UNMET_REQUIREMENTS = "unmet_requirements"
REMOTE_FAILED = "remote_failed"  # the runtime on the device failed on this artifact

# Device problems map to "runtime or device unavailable"; a failing artifact to "stage failed".
_EXIT = {REMOTE_FAILED: ExitCode.STAGE_FAILED, TIMEOUT: ExitCode.STAGE_FAILED}


class RemoteError(StageError):
    def __init__(self, status: str, message: str, fix: str | None = None,
                 partial: dict[str, Any] | None = None) -> None:
        super().__init__(message, fix)
        self.status = status
        self.partial: dict[str, Any] = partial or {}
        self.exit_code = _EXIT.get(status, ExitCode.UNAVAILABLE)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": str(self), **self.partial}
