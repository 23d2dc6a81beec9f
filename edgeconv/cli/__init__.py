"""The `edgeconv` command line: a thin Click layer over the library, one module per command (options in
``options.py``, printing a build in ``show.py``).

Errors become one line on stderr and the documented exit code (see edgeconv.errors.ExitCode);
`--debug` shows the traceback instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import click

from edgeconv import __version__
from edgeconv.cli.options import stderr
from edgeconv.errors import EdgeconvError, RuntimeUnavailable


class Group(click.Group):
    """Maps EdgeconvError to its exit code with one readable line; --debug re-raises.

    Every command is imported only when invoked, so `edgeconv build` does not import (or need) what
    `edgeconv device` uses (asyncssh).
    """

    lazy: ClassVar[dict[str, str]] = {
        "build": "edgeconv.cli.build:build",
        "export": "edgeconv.cli.build:export",
        "verify": "edgeconv.cli.build:verify",
        "quantize": "edgeconv.cli.build:quantize",
        "cache": "edgeconv.cli.machine:cache",
        "targets": "edgeconv.cli.machine:targets",
        "doctor": "edgeconv.cli.machine:doctor",
        "compare": "edgeconv.cli.compare:compare_command",
        "bundle": "edgeconv.cli.bundle:bundle_group",
        "ci": "edgeconv.cli.scale:ci_group",
        "merge": "edgeconv.cli.scale:merge_command",
        "device": "edgeconv.cli.device:device_group",
        "init": "edgeconv.cli.init:init_command",
        "prune": "edgeconv.cli.prune:prune_command",
        "serve": "edgeconv.cli.serve:serve_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            import importlib

            module, _, attr = self.lazy[name].partition(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except ImportError as exc:
                extra = {"device": "ssh"}.get(name, "dev")
                raise RuntimeUnavailable(f"`edgeconv {name}` needs {exc.name}",
                                         fix=f"pip install 'edgeconv[{extra}]'") from exc
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeconvError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            stderr.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            stderr.print("interrupted: finished stages are kept and reused by the next run")
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise  # click's own control flow (--help, usage errors)
        except Exception as exc:  # a crash outside any stage: one line and a log file, never a traceback
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from edgeconv.errors.failures import contain

            out = (ctx.obj or {}).get("out") or _fallback_log_root()
            error = contain(f"edgeconv {ctx.invoked_subcommand or 'command'}", exc, out)
            stderr.print(f"[bold red]error:[/] {error}", markup=True, highlight=False, soft_wrap=True)
            ctx.exit(int(error.exit_code))


def _fallback_log_root() -> Path:
    """Where a crash's log goes before a spec named an output folder: the stage cache's folder."""
    from edgeconv.cache.stages import cache_root

    return cache_root()


@click.group(cls=Group)
@click.version_option(__version__, prog_name="edgeconv")
@click.option("--debug", is_flag=True, help="Show tracebacks and library logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Take a fine-tuned model to an edge device, and prove each artifact against your budgets."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if not debug:
        _quiet_libraries()


def _quiet_libraries() -> None:
    import logging
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # converters' and quantizers' bars: edgeconv draws its own progress
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    try:  # ONNX Runtime's C++ warnings (unused initializers in users' files) are not the user's to act on
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
    except ImportError:
        pass
