"""Build progress on the terminal (rich): one line per stage with its state and time, and the steps of
long searches inside a stage (``edgeconv.progress.steps``) with an ETA.

On a terminal a search's steps update the live status line; elsewhere (CI logs) each finished step is one
plain line. Under ``--json`` nothing is drawn (``quiet``).
"""

from __future__ import annotations

import math
import time
from contextlib import ExitStack
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.status import Status

from edgeconv.progress.steps import Step, listening

LOGGED_STEPS = 20  # off a terminal, a long loop (distillation's steps) logs about this many lines, not one per step


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min': an ETA a person reads at a glance."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def step_line(step: Step) -> str:
    """'quantize-and-evaluate trial 2/≤6: 1 kept float, metric 0.745: misses a budget · ETA ≤ 3 min 10 s'."""
    total = f"≤{step.total}" if step.at_most else str(step.total)
    line = f"{step.task} {step.done}/{total}"
    if step.detail:
        line += f": {step.detail}"
    eta = step.eta_s
    if eta is not None and step.done < step.total:
        line += f" · ETA {'≤ ' if step.at_most else ''}{duration(eta)}"
    return line


class StageProgress:
    """Receives ``(stage, event)`` from the build ('start', 'done' or 'cached') and the steps inside it."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.status: Status | None = None
        self.started: dict[str, float] = {}
        self.current = ""
        self._listening = ExitStack()

    def __enter__(self) -> StageProgress:
        if not self.quiet:
            self.status = self.console.status("preparing: reading the spec, model config and data")
            self.status.start()
            self._listening.enter_context(listening(self.step))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._listening.close()
        if self.status:
            self.status.stop()

    def event(self, stage: str, event: str) -> None:
        if self.quiet:
            return
        if event == "start":
            self.started[stage] = time.perf_counter()
            self.current = stage
            if self.status:
                self.status.update(f"{escape(stage)} …")
        elif event == "done":
            took = time.perf_counter() - self.started.get(stage, time.perf_counter())
            self.console.print(f"[green]✓[/] {escape(stage)} [dim]({took:.1f} s)[/]", highlight=False)
        elif event == "cached":
            self.console.print(f"[cyan]↺[/] {escape(stage)} [dim](reused: inputs unchanged)[/]", highlight=False)
        elif event == "downloaded":
            self.console.print(f"[cyan]↓[/] {escape(stage)} [dim](downloaded from the remote cache, checked)[/]",
                               highlight=False)
        elif event == "uploaded":
            self.console.print(f"[cyan]↑[/] {escape(stage)} [dim](uploaded to the remote cache)[/]", highlight=False)
        elif event.startswith("remote: "):
            self.console.print(f"[yellow]![/] {escape(stage)}: {escape(event)}", highlight=False, soft_wrap=True)

    def step(self, step: Step) -> None:
        """A search's step: the live status line on a terminal, one plain line per finished step elsewhere."""
        line = escape(step_line(step))
        if self.console.is_terminal:
            if self.status:
                self.status.update(f"{escape(self.current)} · {line}")
        elif step.done > 0 and (step.total <= LOGGED_STEPS or step.done == step.total
                                or step.done % math.ceil(step.total / LOGGED_STEPS) == 0):
            self.console.print(f"  {line}", highlight=False, soft_wrap=True)
