"""The options several commands share, declared once (after Olive's ``cli/base.py``), and the consoles they print to.

A command stacks the decorators it needs; the help text and the parameter names are the same everywhere, so
``--out``, ``--set``, ``--json``, ``--no-cache`` and ``--ray`` mean one thing in every command.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

Command = TypeVar("Command", bound=Callable[..., Any])

stdout = Console(width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True)

spec_argument = click.argument("spec", type=click.Path(path_type=Path))
out_option = click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: the spec's output).")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a spec field, e.g. --set budgets.accuracy_drop=0.005 (repeatable).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
no_cache_option = click.option("--no-cache", is_flag=True,
                               help="Re-run every stage even if its inputs did not change.")


def ray_option(what: str) -> Callable[[Command], Command]:
    """``--ray [ADDRESS]``: ``what`` says which part of the command runs as Ray tasks."""
    return click.option("--ray", "ray_address", is_flag=False, flag_value="local", metavar="[ADDRESS]",
                        help=f"{what} as Ray tasks: on the cluster at ADDRESS, or on a Ray started here (no "
                             "ADDRESS). Timings stay on this machine. Needs edgeconv[ray].")


def load(spec: Path, overrides: tuple[str, ...], out: Path | None = None) -> Any:
    """The validated spec; its output folder is where a crash's log goes from here on."""
    from edgeconv.spec import load_spec

    loaded = load_spec(spec, list(overrides))
    context = click.get_current_context()
    context.ensure_object(dict)
    context.obj["out"] = Path(out or loaded.output)
    return loaded


def library_prints_to_stderr() -> contextlib.AbstractContextManager[Any]:
    """Libraries' print() calls (ORT's calibrators, converters' progress) go to stderr while a build runs, so
    stdout holds only edgeconv's results (and --json stays parseable)."""
    return contextlib.redirect_stdout(sys.stderr)
