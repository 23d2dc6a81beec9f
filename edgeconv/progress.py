"""Stage progress on the terminal (rich): one line per stage with its state and time."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.status import Status


class StageProgress:
    """Receives ``(stage, event)`` from the build: 'start', 'done' or 'cached'."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status: Status | None = None
        self.started: dict[str, float] = {}

    def __enter__(self) -> StageProgress:
        self.status = self.console.status("preparing: reading the spec, model config and data")
        self.status.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.status:
            self.status.stop()

    def event(self, stage: str, event: str) -> None:
        if event == "start":
            self.started[stage] = time.perf_counter()
            if self.status:
                self.status.update(f"{stage} …")
        elif event == "done":
            took = time.perf_counter() - self.started.get(stage, time.perf_counter())
            self.console.print(f"[green]✓[/] {stage} [dim]({took:.1f} s)[/]", highlight=False)
        elif event == "cached":
            self.console.print(f"[cyan]↺[/] {stage} [dim](reused: inputs unchanged)[/]", highlight=False)
