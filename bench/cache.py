"""Stage-cache benchmark: a no-op re-run of the sample build, against the first (cold) build.

Both runs are the real command line (`edgeconv build`), in a fresh stage cache; the second writes
into a new --out folder, so every stage must come from the shared cache, not from the first out/.

    python bench/cache.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "samples" / "tweet-sentiment" / "edgeconv.yaml"


def timed_build(out: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgeconv.cli", "build", str(SPEC), "--out", str(out)],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="edgeconv-cache-bench-") as tmp:
        env = {**os.environ, "EDGECONV_CACHE_DIR": str(Path(tmp) / "cache")}
        cold = timed_build(Path(tmp) / "out1", env)
        warm = timed_build(Path(tmp) / "out2", env)
    print("| run | wall s |\n|---|---|")
    print(f"| first build (empty cache) | {cold:.1f} |")
    print(f"| no-op re-run into a new --out | {warm:.1f} |")
    print(f"ratio: {warm / cold:.3f} of the first build")


if __name__ == "__main__":
    main()
