"""`edgeconv compare BASELINE CANDIDATE`: exit 1 on a regression whose interval clears the limit, 0 otherwise, 2 on
bad input (missing file, not a report, no artifact in common).

The flags' types and help live here; the comparison is one library call (``edgeconv.compare.run.compare``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from edgeconv.compare.render import RENDERERS
from edgeconv.compare.run import compare, exit_code
from edgeconv.fsutil import write_text


class Share(click.ParamType):
    """A fraction: `0.01`, or `1pt` / `1%` (both mean 0.01)."""

    name = "fraction"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip().lower()
        scale = 1.0
        for suffix in ("pts", "pt", "%"):
            if text.endswith(suffix):
                text, scale = text[: -len(suffix)], 0.01
                break
        try:
            number = float(text) * scale
        except ValueError:
            self.fail(f"'{value}' is not a number (write 0.01, 1pt or 1%)", param, ctx)
        if number < 0:
            self.fail(f"'{value}' is negative: a limit is a size of change, >= 0", param, ctx)
        return number


SHARE = Share()
DECIBELS = Share()
DECIBELS.name = "dB"


class Limit(click.ParamType):
    """NAME=VALUE: the limit of one metric (``snr_db[logits]=6``) or family (``map50_95=2pt``)."""

    name = "NAME=VALUE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, float]:
        if isinstance(value, tuple):
            return value
        name, sep, number = str(value).partition("=")
        if not sep or not name.strip():
            self.fail(f"'{value}' is not NAME=VALUE (e.g. map50_95=0.02, snr_db[logits]=6)", param, ctx)
        return name.strip(), SHARE.convert(number, param, ctx)


# --max-*: each a family's limit (compare/metrics.py); the spec's budgets give the defaults where it has one.
LIMIT_FLAGS = {
    "--max-accuracy-drop": "Largest accuracy drop tolerated, as a fraction of examples: 0.01 = 1pt = 1% (default "
                           "0.01, or the spec's budgets.accuracy_drop).",
    "--max-agreement-drop": "Largest drop in top-1 agreement with the fp32 reference (default: as accuracy).",
    "--max-map-drop": "Largest mAP drop (@0.5:0.95 and @0.5, against labels and the fp32 boxes), a fraction (default "
                      "0.01, or the spec's budgets.map_drop).",
    "--max-miou-drop": "Largest mIoU drop (against masks and the fp32 pixels), a fraction (default 0.01, or the "
                       "spec's budgets.miou_drop).",
    "--max-snr-db-drop": "Largest fall of any output's SNR against its fp32 reference, in dB (default 3).",
    "--max-metric-drop": "Largest drop of the evaluation metric (macro_f1 or a custom module:function), in its own "
                         "units (default 0.01).",
    "--max-latency-increase": "Largest p50 slow-down tolerated, as a fraction: 0.10 = 10% (default 0.10).",
    "--max-size-increase": "Largest size growth, a fraction (default: none).",
}


def limit_flags(command: Callable[..., None]) -> Callable[..., None]:
    for flag, text in reversed(LIMIT_FLAGS.items()):
        command = click.option(flag, type=DECIBELS if "-db-" in flag else SHARE, default=None, help=text)(command)
    return command


@click.command("compare")
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@limit_flags
@click.option("--limit", "limits", type=Limit(), multiple=True,
              help="NAME=VALUE: the limit of any metric by name (snr_db[logits]=6, cosine=0.005, max_abs_error=0.1) "
                   "or family; repeatable; wins over the flags above.")
@click.option("--spec", "spec_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Read default limits from this edgeconv.yaml's budgets, and its custom metric (trust_code) to "
                   "recompute per example.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--resamples", type=click.IntRange(100, 100_000), default=2000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap (results repeat).")
@click.option("--repeat", type=click.IntRange(1, 50), default=None,
              help="Re-measure both builds' artifacts here, N interleaved rounds, before comparing latency.")
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="md", show_default=True)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), help="Write here instead of stdout.")
def compare_command(baseline: Path, candidate: Path, limits: tuple[tuple[str, float], ...], spec_file: Path | None,
                    repeat: int | None, fmt: str, output: Path | None, **flags: Any) -> None:
    """Compare CANDIDATE with BASELINE (report.json files or build folders), artifact by artifact.

    Build folders give paired intervals over the evaluation examples (images for mAP and mIoU); report files
    alone give unpaired ones where they can. Exit 1 on a regression, 0 otherwise, 2 on bad input.
    """
    result = compare(baseline, candidate, spec=spec_file, limits=dict(limits), repeat=repeat, **flags)
    text = RENDERERS[fmt](result)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text(output, text)
        verdict = f"{len(result.regressions)} regression(s)" if result.regressed else "no regression"
        click.echo(f"{verdict}; {fmt} written to {output}", err=True)
    sys.exit(int(exit_code(result)))
