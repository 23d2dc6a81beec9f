"""Shared by the gate's tests: the compare command as a user runs it, and one metric of one compared artifact."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result

from tests.cligroup import cli


def compare(*args: object) -> Result:
    return CliRunner().invoke(cli, ["compare", *map(str, args)])


def metric(result: Any, label: str, name: str) -> Any:
    artifact = next(a for a in result.artifacts if a.label == label)
    return next(m for m in artifact.metrics if m.metric == name)
