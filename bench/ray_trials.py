"""`--ray` on the TFLite int8-full search: the sample's arm64-tflite build sequentially and on a Ray started
here, in one run, each in its own process with a fresh stage cache; both int8-full choices, wall times, and the
ranking's trial count and time (from the build's progress lines) to project the gain on N workers.

    python bench/ray_trials.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "samples" / "tweet-sentiment" / "edgeconv.yaml"


def build(folder: Path, *extra: str) -> tuple[float, dict, list[tuple[float, str]], dict]:
    """Wall seconds, the int8-full row, (seconds since start, line) of each ranking progress line the log shows
    (a CI log shows a sample of them), and the report's Ray record."""
    env = {**os.environ, "EDGECONV_CACHE_DIR": str(folder / "cache")}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "edgeconv.cli", "build", str(SPEC), "--target", "arm64-tflite",
                             "--out", str(folder / "out"), *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ranking = []
    for line in proc.stderr:
        if "group ranking: module group" in line:
            ranking.append((time.perf_counter() - start, line.strip()))
    proc.wait()
    wall = time.perf_counter() - start
    report = json.loads((folder / "out" / "report.json").read_text())
    (row,) = [a for a in report["artifacts"] if a["precision"] == "int8-full"]
    return wall, row, ranking, report.get("ray") or {}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="edgeconv-ray-bench-") as tmp:
        runs = {"sequential": build(Path(tmp) / "seq"), "--ray (local, 2 CPUs)": build(Path(tmp) / "ray", "--ray")}
    (_, a, ranking_a, _), (_, b, _, record) = runs.values()
    trials = record.get("trials", 0)
    print("| build | wall s | ranking s | int8-full: float groups kept | accuracy | agreement |")
    print("|---|---|---|---|---|---|")
    for name, (wall, row, ranking, _) in runs.items():
        span = ranking[-1][0] - ranking[0][0] if len(ranking) > 1 else float("nan")
        kept = len(row["quantization"]["float_activation_groups"])
        print(f"| {name} | {wall:.0f} | {span:.0f} | {kept} | {row['accuracy']:.3f} | {row['agreement']:.3f} |")
    same = a["quantization"]["float_activation_groups"] == b["quantization"]["float_activation_groups"]
    print(f"same int8-full choice: {same}; same artifact bytes: {a['sha256'] == b['sha256']}; ranking trials on "
          f"Ray: {trials} (cluster CPUs {record.get('cluster_cpus')}, the profile asks {4} threads per trial)")
    if len(ranking_a) > 1 and trials:
        span = ranking_a[-1][0] - ranking_a[0][0]
        print(f"sequential ranking: {span:.0f} s for {trials} trials, {span / trials:.1f} s each; on N workers "
              f"with the profile's threads each, about {span:.0f} / N s plus Ray's start and data transfer")


if __name__ == "__main__":
    main()
