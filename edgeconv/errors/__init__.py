"""Errors users can act on, each mapped to the documented exit code.

Every error carries one line saying what is wrong and, where we know it, how to fix it.
The CLI prints that line (no traceback unless --debug) and exits with ``exit_code``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every budget met
    BUDGET_FAILED = 1  # a budget failed: a regression
    USAGE = 2  # bad usage, spec or input data
    UNAVAILABLE = 3  # a needed runtime or device is not available
    STAGE_FAILED = 4  # a stage failed on valid input (e.g. an unsupported op)


class EdgeconvError(Exception):
    """Base class: a message, an optional fix, and the exit code it maps to."""

    exit_code: ExitCode = ExitCode.STAGE_FAILED

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


class SpecError(EdgeconvError):
    """The spec, a command-line override or an input file is wrong."""

    exit_code = ExitCode.USAGE


class DataError(SpecError):
    """Calibration or evaluation data is missing, empty or does not fit the model."""


class RuntimeUnavailable(EdgeconvError):
    """A runtime, device or optional dependency the build needs is not here."""

    exit_code = ExitCode.UNAVAILABLE


class StageError(EdgeconvError):
    """A stage failed on valid input; the message names the stage and what broke."""

    exit_code = ExitCode.STAGE_FAILED


class NothingToDo(EdgeconvError):
    """A recipe that would leave the model as it is (e.g. int8-dynamic of a network with only convolutions):
    the artifact is reported as skipped with this reason, not built under a misleading name."""

    exit_code = ExitCode.OK
