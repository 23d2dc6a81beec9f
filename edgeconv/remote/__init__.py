"""Verify on the real device over SSH: probe it, push what is missing, run the worker there, pull results.

Entry points: ``verify_remote`` (same result.json as a local run), ``probe_device``, and
``run_on_device`` (the seam for other remote commands such as ``trtexec``). Imported lazily so that
``edgeconv.spec.targets`` can use ``DeviceConfig`` without pulling in the verify stack (or asyncssh).
"""

from __future__ import annotations

from typing import Any

from edgeconv.spec.device import DeviceConfig, JumpHost

_LAZY = {
    "verify_remote": "edgeconv.remote.verify", "probe_device": "edgeconv.remote.verify",
    "run_on_device": "edgeconv.remote.verify", "RemoteError": "edgeconv.remote.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = ["DeviceConfig", "JumpHost", "RemoteError", "probe_device", "run_on_device", "verify_remote"]
