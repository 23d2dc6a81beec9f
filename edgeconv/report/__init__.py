"""Reports of a build: report.json (machines), report.md and report.html (people), junit.xml (CI), manifest.json
(provenance)."""

from __future__ import annotations

from pathlib import Path

from edgeconv.fsutil import write_json, write_text
from edgeconv.report.html import render_html
from edgeconv.report.junit import render_junit
from edgeconv.report.markdown import render_markdown
from edgeconv.results import BuildResult


def report_paths(out: Path) -> dict[str, Path]:
    """Where a build's reports are, by kind."""
    out = Path(out)
    return {
        "json": out / "report.json", "markdown": out / "report.md",
        "junit": out / "junit.xml", "manifest": out / "manifest.json", "html": out / "report.html",
    }


def write_reports(result: BuildResult, out: Path) -> dict[str, Path]:
    """Write every report atomically into ``out``; returns their paths by kind."""
    paths = report_paths(out)
    report = result.to_dict()
    write_json(paths["json"], report)
    write_text(paths["markdown"], render_markdown(result))
    write_text(paths["html"], render_html(report))
    write_text(paths["junit"], render_junit(result))
    write_json(paths["manifest"], result.manifest)
    return paths


__all__ = ["render_html", "render_junit", "render_markdown", "report_paths", "write_reports"]
