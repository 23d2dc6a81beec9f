"""The Runner protocol every runtime implements (after Polygraphy's runners).

A runner is a context manager: ``__enter__`` loads the artifact (activate), ``infer`` maps
``{input name: array}`` to ``{output name: array}`` and records its own inference time, and
``__exit__`` releases it. Verification only ever talks to this protocol, never to a runtime.

This module imports nothing but numpy and the standard library, so a runner module can be
copied to a device that has only numpy and its runtime (see edgeconv.verify.worker).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class Runner:
    """Base class: subclasses implement ``activate``, ``_infer`` and optionally ``deactivate``."""

    name = "runner"

    def __init__(self) -> None:
        self.last_inference_s: float = 0.0
        self.active = False

    def activate(self) -> None:
        raise NotImplementedError

    def deactivate(self) -> None:
        """Release the runtime's resources (default: nothing to release)."""

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; ``last_inference_s`` holds the time of the call (runners with device timers override)."""
        start = time.perf_counter()
        outputs = self._infer(feeds)
        self.last_inference_s = time.perf_counter() - start
        return outputs

    def describe(self) -> dict[str, Any]:
        """Runtime facts for the report (versions, providers, threads)."""
        return {}

    def share_cores(self) -> None:
        """Several runners are about to be timed in turns in this process (the build's interleaved pass): a runtime
        whose threads go on spinning on the cores after a call returns must release them, or they slow whichever
        row is timed next. Called before entering; by default there is nothing to release."""

    def __enter__(self) -> Runner:
        self.activate()
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()
        self.active = False
