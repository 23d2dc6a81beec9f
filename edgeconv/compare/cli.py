"""`edgeconv compare BASELINE CANDIDATE`: exit 1 on a regression whose interval clears the limit, 0 otherwise, 2 on
bad input (missing file, not a report, no artifact in common)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeconv.compare.core import Thresholds, compare_sides
from edgeconv.compare.determinism import compare_builds
from edgeconv.compare.load import load_side
from edgeconv.compare.render import RENDERERS
from edgeconv.errors import ExitCode
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


@click.command("compare")
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--max-accuracy-drop", type=SHARE, default=None,
              help="Largest accuracy drop tolerated, as a fraction of examples: 0.01 = 1pt = 1% (default 0.01, "
                   "or the spec's budgets.accuracy_drop).")
@click.option("--max-agreement-drop", type=SHARE, default=None,
              help="Largest drop in top-1 agreement with the fp32 reference (default: as accuracy).")
@click.option("--max-latency-increase", type=SHARE, default=None,
              help="Largest p50 slow-down tolerated, as a fraction: 0.10 = 10% (default 0.10).")
@click.option("--max-size-increase", type=SHARE, default=None, help="Largest size growth, a fraction (default: none).")
@click.option("--spec", "spec_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Read default limits from this edgeconv.yaml's budgets.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--resamples", type=click.IntRange(100, 100_000), default=2000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap (results repeat).")
@click.option("--repeat", type=click.IntRange(1, 50), default=None,
              help="Re-measure both builds' artifacts here, N interleaved rounds, before comparing latency.")
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="md", show_default=True)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), help="Write here instead of stdout.")
def compare_command(baseline: Path, candidate: Path, max_accuracy_drop: float | None,
                    max_agreement_drop: float | None, max_latency_increase: float | None,
                    max_size_increase: float | None, spec_file: Path | None, confidence: float, resamples: int,
                    seed: int, repeat: int | None, fmt: str, output: Path | None) -> None:
    """Compare CANDIDATE with BASELINE (report.json files or build folders), artifact by artifact.

    Build folders give paired intervals over the evaluation examples; report files alone give unpaired ones.
    Exit 1 on a regression, 0 otherwise, 2 on bad input.
    """
    budgets = None
    if spec_file is not None:
        from edgeconv.spec import load_spec

        budgets = load_spec(spec_file).budgets
    thresholds = Thresholds.from_budgets(
        budgets, max_accuracy_drop=max_accuracy_drop, max_agreement_drop=max_agreement_drop,
        max_latency_increase=max_latency_increase, max_size_increase=max_size_increase,
        confidence=confidence, resamples=resamples, seed=seed,
    )
    base, cand = load_side(baseline), load_side(candidate)
    repeat_notes: list[str] = []
    if repeat:
        from edgeconv.compare.repeat import remeasure_interleaved

        repeat_notes = remeasure_interleaved(base, cand, repeat)
    result = compare_sides(base, cand, thresholds)
    result.notes += repeat_notes
    if base.build_dir is not None and cand.build_dir is not None:
        result.determinism = compare_builds(base.build_dir, cand.build_dir).to_dict()
    text = RENDERERS[fmt](result)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text(output, text)
        verdict = f"{len(result.regressions)} regression(s)" if result.regressed else "no regression"
        click.echo(f"{verdict}; {fmt} written to {output}", err=True)
    sys.exit(int(ExitCode.BUDGET_FAILED if result.regressed else ExitCode.OK))
