"""A runner that stands for a model that takes long to load: it marks that it started, then sleeps.

Pushed to the device like any runner module (it imports only the runner base), so the fault tests
can kill the server or hit the timeout while the worker is really running there.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgeconv.backends.runner import Runner


class SleepRunner(Runner):
    name = "sleep"

    def __init__(self, path: str, marker: str, seconds: float) -> None:
        super().__init__()
        self.path, self.marker, self.seconds = path, marker, seconds

    def activate(self) -> None:
        with Path(self.marker).open("a") as f:
            f.write("started\n")
        time.sleep(self.seconds)

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"logits": np.zeros((len(next(iter(feeds.values()))), 3), dtype=np.float32)}
