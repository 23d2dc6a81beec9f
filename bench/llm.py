"""One run, interleaved, on this machine: a text-generation build's artifacts against the fp32 baseline users
run (transformers ``generate``) and each runtime's int4 made by hand as its docs say (bench/llm_peers.py).

Every row is measured the same way, by the code the build verifies with (verify/lm_measure.py): teacher-forced
perplexity change, KL and top-1 agreement against the fp32 reference on the first ``--tf`` evaluation texts,
greedy answers of the first ``--task`` texts and their task accuracy; speed from one interleaved pass (every
row generates exactly ``--new-tokens`` from the first evaluation prompt once per round, rows shuffled each
round), medians with [min, max] over rounds; the memory each row's load and first generation added to this
process (RSS); size on disk. Ratios: decode tokens/s over torch's and over the fastest peer's, each the median
of per-round paired ratios.

    edgeconv build samples/smollm2-sentiment/edgeconv.yaml
    python bench/llm.py --build samples/smollm2-sentiment/out --tf 30 --task 100 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconv.api.generative import folder_size
from edgeconv.api.generative_data import lm_evaluation
from edgeconv.models.causal_lm import load_causal_lm
from edgeconv.results.report_file import report_json
from edgeconv.spec import load_spec
from edgeconv.verify.generation import GenerationRunner
from edgeconv.verify.lm_measure import measure_candidate, measure_reference, speedup, time_interleaved
from edgeconv.verify.reference_lm import TorchLMRunner
from edgeconv.verify.worker import load_runner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_peers import make_peers

TORCH = "torch fp32 (transformers generate, the reference)"


@dataclass
class Row:
    """One table row: where it came from, its runner and what it measured."""

    name: str
    kind: str  # baseline, edgeconv, peer
    runner: GenerationRunner | None
    size_mb: float | None
    reason: str | None = None  # why a row has no figures
    rss_mb: float | None = None
    figures: dict[str, Any] | None = None
    speed: dict[str, Any] | None = None


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _mb(path: Path) -> float:
    return folder_size(path) / 1e6


def edgeconv_rows(build: Path, threads: int) -> tuple[list[Row], dict[str, Any]]:
    """Every built artifact of a build's report.json (chosen rows marked), loaded through its recorded runner."""
    report = report_json(build / "report.json")
    chosen = {(s.get("target"), s.get("precision")) for s in report.get("selections") or []}
    rows = []
    for a in report["artifacts"]:
        name = f"edgeconv: {a['target']} {a['precision']}" + (" (chosen)" if (a["target"], a["precision"]) in chosen
                                                                else "")
        if not a.get("path") or not a.get("runner"):
            rows.append(Row(name, "edgeconv", None, None, reason=f"{a['status']}: {a.get('reason')}"))
            continue
        kwargs = {**a["runner"].get("kwargs", {}), "path": a["path"], "threads": threads}
        runner = load_runner(a["runner"]["runner"], kwargs)
        rows.append(Row(name, "edgeconv", runner, _mb(Path(a["path"]))))
    return rows, report


def measure(rows: list[Row], reference: Row, evaluation: Any) -> None:
    """Load each row, take the memory its load and first generation added, then its fidelity and answers."""
    assert reference.runner is not None
    base = measure_reference(reference.runner, evaluation)
    reference.figures = base.figures.model_dump()
    for row in rows:
        if row.runner is None:
            continue
        try:
            before = _rss_mb()
            row.runner.activate()
            row.runner.generate(evaluation.prompts[0], 2)
            row.rss_mb = _rss_mb() - before
            row.figures = measure_candidate(row.runner, evaluation, base, reference.runner.logits).figures.model_dump()
        except Exception as exc:  # a runtime refusing its artifact is a row with the reason, not the end
            row.runner, row.reason = None, f"{type(exc).__name__}: {exc}"
        print(f"measured {row.name}: {row.reason or row.figures}", flush=True)


def time_rows(rows: list[Row], prompt: list[int], new_tokens: int, rounds: int) -> None:
    """One interleaved pass over every loaded row; decode ratios against torch and the fastest peer."""
    live = [r for r in rows if r.runner is not None]
    timed = dict(zip((r.name for r in live), time_interleaved([r.runner for r in live], prompt, new_tokens, rounds),
                     strict=True))
    peers = [r.name for r in live if r.kind == "peer"]
    fastest = max(peers, key=lambda n: timed[n].speed["decode_tokens_per_s"], default=None)
    for row in live:
        t = timed[row.name]
        row.speed = {**t.speed, "decode_range": [min(t.decode_per_round), max(t.decode_per_round)],
                     "x_torch": speedup(timed[TORCH], t), "fastest_peer": fastest,
                     "x_peer": speedup(timed[fastest], t) if fastest else None}


def _ratio(value: tuple[float, list[float]] | None) -> str:
    return "–" if value is None else f"{value[0]:.2f} [{value[1][0]:.2f}–{value[1][1]:.2f}]"


def table(rows: list[Row]) -> list[str]:
    """The markdown table (a row without figures says why in its notes)."""
    fastest = next((r.speed["fastest_peer"] for r in rows if r.speed), None)
    lines = ["| row | TTFT ms | prefill tok/s | decode tok/s [min–max] | × torch | × fastest peer | ppl Δ % "
             "| KL mean / p99 | top-1 agr. | answers = ref | accuracy | RSS MB | MB |", "|" + "---|" * 13]
    for r in rows:
        if r.speed is None or r.figures is None:
            lines.append(f"| {r.name} | " + " | ".join(["–"] * 12) + " |")
            continue
        s, f = r.speed, r.figures
        fidelity = (["–"] * 4 if r.kind == "baseline" else
                    [f"{f['perplexity_change_pct']:+.2f}", f"{f['kl_mean']:.4f} / {f['kl_p99']:.3f}",
                     f"{f['token_agreement']:.3f}", f"{f['exact_match']:.3f}"])
        cells = [r.name, f"{s['ttft_ms']:.1f}", f"{s['prefill_tokens_per_s']:.0f}",
                 f"{s['decode_tokens_per_s']:.1f} [{s['decode_range'][0]:.1f}–{s['decode_range'][1]:.1f}]",
                 _ratio(s["x_torch"]), _ratio(s["x_peer"]) if fastest else "–", *fidelity,
                 "–" if f.get("task_accuracy") is None else f"{f['task_accuracy']:.3f}",
                 "–" if r.rss_mb is None else f"{r.rss_mb:.0f}", "–" if r.size_mb is None else f"{r.size_mb:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, action="append", required=True,
                        help="an `edgeconv build` output folder (report.json); repeat for several")
    parser.add_argument("--spec", type=Path, help="the build's spec (default: edgeconv.yaml beside --build)")
    parser.add_argument("--tf", type=int, default=30, help="evaluation texts scored teacher-forced")
    parser.add_argument("--task", type=int, default=100, help="evaluation texts answered greedily")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peers", nargs="*", default=["ort-genai", "openvino", "llama.cpp"])
    parser.add_argument("--optimum-env", type=Path, help="optimum-intel's environment (default: edgeconv's own)")
    parser.add_argument("--work", type=Path, help="where the peers are made (default: a new temporary folder)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    candidates: list[Row] = []
    reports = []
    for build in args.build:
        rows, report = edgeconv_rows(build, args.threads)
        candidates += rows
        reports.append(report)
    spec = load_spec(args.spec or args.build[0].parent / "edgeconv.yaml",
                     [f"evaluation.count={max(args.tf, args.task)}"])
    hf = Path(reports[0]["reference"]["path"]).resolve()  # the peers convert it from their own working folder
    before = _rss_mb()
    lm = load_causal_lm(str(hf))  # the build's fp32 reference folder, as a user loads a fine-tuned model
    evaluation = lm_evaluation(spec, lm)
    evaluation.sequences = evaluation.sequences[: args.tf]
    evaluation.scored_from = evaluation.scored_from and evaluation.scored_from[: args.tf]
    evaluation.prompts = evaluation.prompts[: args.task]
    evaluation.truth = evaluation.truth and evaluation.truth[: args.task]
    torch_runner = TorchLMRunner(lm, threads=args.threads)
    torch_runner.activate()
    torch_runner.generate(evaluation.prompts[0], 2)
    reference = Row(TORCH, "baseline", torch_runner, _mb(hf), rss_mb=_rss_mb() - before)

    work = args.work or Path(tempfile.mkdtemp(prefix="llm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    peers = make_peers(hf, work, args.threads, args.peers, args.optimum_env)
    rows = [reference, *candidates, *(Row(p.name, "peer", p.runner, p.path and _mb(p.path), p.reason)
                                      for p in peers)]
    measure(rows[1:], reference, evaluation)
    time_rows(rows, evaluation.prompts[0], args.new_tokens, args.rounds)

    print(f"\n{started}; prompt {len(evaluation.prompts[0])} tokens, {args.new_tokens} new tokens, {args.rounds} "
          f"interleaved rounds, {args.threads} threads; fidelity on {len(evaluation.sequences)} texts, task on "
          f"{len(evaluation.prompts)}\n")
    print("\n".join(table(rows)))
    for p in peers:
        print(f"- {p.name}: `{p.command}`" + (f", made in {p.build_s:.0f} s" if p.build_s else "")
              + (f"; not measured: {p.reason}" if p.reason else ""))
    for r in rows:
        if r.reason and r.kind != "peer":
            print(f"- {r.name}: not measured: {r.reason}")
    if args.json:
        args.json.write_text(json.dumps({"at": started, "args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": [{k: v for k, v in vars(r).items() if k != "runner"} for r in rows],
                                         "peers": [{"name": p.name, "command": p.command, "build_s": p.build_s,
                                                    "path": str(p.path), "reason": p.reason} for p in peers]},
                                        indent=2, default=str))


if __name__ == "__main__":
    main()
