"""Static int8 on models it was not tuned on: plain int8, each remedy the search tried, and the final choice.

For every model, one `edgeconv build` of fp32 + int8-static on the ONNX Runtime CPU target, from an empty
stage cache (its wall time is the build time). The int8 search (compress/search.py) records each trial:
plain static int8 first, then each remedy on top of the ones kept, then any float fallback; every trial
was scored on the evaluation set and timed interleaved with the fp32 reference in the build's process.
The final row is the verified artifact: its metric change, agreement, and p50 as a share of the fp32
reference's from the build's interleaved re-timing (verify/retime.py).

    python bench/static_int8.py [--only NAME ...] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table
from zoo import cpu_model, spec_path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {  # name -> spec
    "tweet-sentiment-3class": ROOT / "samples" / "tweet-sentiment-3class" / "edgeconv.yaml",
    "tweet-sentiment": spec_path("tweet-sentiment"),
    "ppocr-textline-orientation": spec_path("ppocr-textline-orientation"),
    "magika-file-types": spec_path("magika-file-types"),
    "captcha-detector": spec_path("captcha-detector"),
}


def build(spec_file: Path, out: Path, threads: int) -> tuple[Any, float]:
    """fp32 + int8-static for the ORT CPU target, from an empty stage cache; (result, wall seconds)."""
    from edgeconv.api import build as edgeconv_build
    from edgeconv.spec import TargetRef, load_spec

    spec = load_spec(spec_file)
    spec.targets = [TargetRef(name="x86-cpu-ort", precisions=["fp32", "int8-static"], threads=threads)]
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EDGECONV_CACHE_DIR"] = cache
        start = time.perf_counter()
        result = edgeconv_build(spec, out=out)
        return result, time.perf_counter() - start


def figure(trial: dict[str, Any], reference: float | None) -> str:
    """A trial's task figure: the metric change against fp32 when labelled, else the worst output's SNR."""
    if trial["accuracy"] == trial["accuracy"] and reference is not None:
        return f"{(trial['accuracy'] - reference) * 100:+.1f} pt"
    fidelity = trial.get("fidelity") or {}
    for name in ("map50_95_vs_reference", "miou_vs_reference"):
        if name in fidelity:
            return f"{name.split('_')[0]} {fidelity[name]:.3f} vs fp32"
    return f"SNR {fidelity['snr_db']:.1f} dB" if "snr_db" in fidelity else "–"


def rows_for(name: str, result: Any, seconds: float) -> list[list[str]]:
    reference = result.reference.measurement
    reference_metric = reference.metric_value if reference is not None else None
    static = next(a for a in result.artifacts if a.precision == "int8-static")
    search = (static.quantization or {}).get("fallback") or {}
    rows = []
    for i, t in enumerate(search.get("trials", [])):
        step = "plain static int8" if i == 0 else (" + ".join(t.get("remedies") or []) or "float fallback")
        if t["float_nodes"]:
            step += f" + {len(t['float_nodes'])} node(s) float"
        share = f"{t['p50_ms'] / t['reference_p50_ms']:.2f}" if t.get("reference_p50_ms") else "–"
        agreement = f"{t['agreement']:.3f}" if t["agreement"] == t["agreement"] else "–"
        verdict = ("meets" if t["passed"] else "misses") + (" (kept)" if i == search.get("chosen_trial") else "")
        rows.append([name, f"trial {i}: {step}", figure(t, reference_metric), agreement, share, verdict])
    m = static.measurement
    delta = f"{static.accuracy_delta * 100:+.1f} pt" if static.accuracy_delta is not None else "–"
    share = f"{1 / static.speedup_vs_reference:.2f}" if static.speedup_vs_reference else "–"
    agreement = f"{m.agreement:.3f}" if m is not None and m.agreement is not None else "–"
    why = static.reason or "; ".join(f"{b.name} {b.shortfall}" for b in static.budgets if not b.passed)
    why = "; ".join([why, *static.warnings]).strip("; ")  # e.g. slower than fp32, and why
    rows.append([name, f"**final** ({static.status}; build {seconds:.0f} s)", delta, agreement, share,
                 why or "within budgets"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or MODELS:
            result, seconds = build(MODELS[name], Path(tmp) / name, args.threads)
            rows += rows_for(name, result, seconds)
            print(f"{name}: built in {seconds:.0f} s", file=sys.stderr)
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; {args.threads} threads; Python {platform.python_version()}")
    print(markdown_table(["model", "step", "metric vs fp32", "agreement", "p50 / fp32 p50", "outcome"], rows))


if __name__ == "__main__":
    main()
