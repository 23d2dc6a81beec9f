"""The sample build's report.html in a real headless browser (Debian's chromium, installed by
tests/setup_debian.sh): the plots render and the page logs nothing to the console."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (run "
                                 "tests/setup_debian.sh)")]


def load(page: Path) -> tuple[str, list[str]]:
    """(the DOM after the page's scripts ran, what the page wrote to its console, errors included)."""
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def test_the_console_check_sees_a_failing_script(tmp_path: Path) -> None:
    """The harness itself: an uncaught error in a page is seen (else a silent check would prove nothing)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>throw new Error('broken page')</script></body></html>")
    _, console = load(bad)
    assert any("Uncaught Error: broken page" in line for line in console)


def test_the_sample_report_renders_its_plots_without_console_errors(sample_build: tuple[int, Path]) -> None:
    _, out = sample_build
    dom, console = load(out / "report.html")
    assert console == []
    titles = re.findall(r"<section><h2>([^<]+)</h2>", dom)
    assert titles[:4] == ["Quality against latency", "Latency distribution", "Size", "Per class"]
    assert set(titles[4:]) <= {"Int8 search"}  # when an int8 fallback ran more than one trial
    plots = re.findall(r'class="plot-container plotly"', dom)
    assert len(plots) == len(titles)  # plotly drew every figure...
    assert dom.count('class="main-svg"') >= 2 * len(titles)  # ...with its svg layers
    assert 'class="scatterlayer' in dom and 'class="boxlayer' in dom and 'class="barlayer' in dom
    assert "budget: accuracy_drop 0.01" in dom and "budget: 100 MB" in dom  # the budgets as lines
    assert "Pareto front" in dom
