"""Progress inside a long stage (the fallback search's trials, sensitivity and group ranking).

The library never prints: a loop reports each finished step here and whoever listens draws it (the CLI's
``StageProgress``). The loops run several layers below the build's stage runner (in backends and
compress/), so the listener is a context variable that the CLI sets with ``listening`` rather than a
callback threaded through every signature in between. With no listener, reporting costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One finished step of a task: ``done`` of ``total`` (``at_most``: the task may stop earlier)."""

    task: str
    done: int
    total: int
    detail: str
    elapsed_s: float
    at_most: bool = False
    limit_s: float | None = None  # the task stops after this long whatever its steps

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the mean pace so far (capped by the time limit); None before the first step."""
        if self.done <= 0:
            return None
        pace = self.elapsed_s / self.done * max(self.total - self.done, 0)
        return pace if self.limit_s is None else max(0.0, min(pace, self.limit_s - self.elapsed_s))


Listener = Callable[[Step], None]
_listener: ContextVar[Listener | None] = ContextVar("edgeconv_step_listener", default=None)


@contextmanager
def listening(callback: Listener) -> Iterator[None]:
    """Send every step reported in this context to ``callback``."""
    token = _listener.set(callback)
    try:
        yield
    finally:
        _listener.reset(token)


class Task:
    """A loop of ``total`` steps; ``advance(detail)`` after each one."""

    def __init__(self, name: str, total: int, at_most: bool = False, limit_s: float | None = None) -> None:
        self.name, self.total, self.at_most, self.limit_s = name, total, at_most, limit_s
        self.done = 0
        self.started = time.perf_counter()
        self._emit("")

    def advance(self, detail: str = "") -> None:
        self.done += 1
        self._emit(detail)

    def _emit(self, detail: str) -> None:
        listener = _listener.get()
        if listener is not None:
            listener(Step(self.name, self.done, self.total, detail, time.perf_counter() - self.started,
                          self.at_most, self.limit_s))
