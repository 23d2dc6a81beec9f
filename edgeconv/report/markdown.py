"""report.md: the build's result for people (a PR comment, a release note)."""

from __future__ import annotations

from edgeconv.export.parity import parity_text
from edgeconv.report.format import delta_points, headers, loaded_note, mb, ms, pct, precisions_note, row, snr
from edgeconv.report.generation import generation_markdown, is_generative
from edgeconv.report.int8_search import search_lines
from edgeconv.report.shapes import shapes_markdown
from edgeconv.results import ArtifactResult, BuildResult
from edgeconv.verify.custom_metric import is_custom


def _table(rows: list[list[str]], metric: str) -> list[str]:
    names = headers(metric)
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render_markdown(result: BuildResult) -> str:
    verdict = "PASSED: every budget met" if result.passed else "FAILED"
    lines = [f"# edgeconv build: {result.spec_name}", "", f"**{verdict}**", ""]
    failed = result.failed_budgets
    if failed:
        lines += ["## Failed budgets", ""]
        lines += [f"- `{a.label}`: **{b.name}** (limit {b.limit:g}): {b.shortfall}" for a, b in failed]
        lines.append("")
    if result.selections:
        lines += ["## Chosen precision (`auto`)", ""]
        lines += [f"- `{s['target']}`: **{s['precision'] or 'none'}**: {s['reason']}" for s in result.selections]
        lines.append("")
        lines += _device_ranking(result.selections)
    warned = [(a, w) for a in result.artifacts for w in a.warnings]
    if warned:
        lines += ["## Warnings", ""] + [f"- `{a.label}`: {w}" for a, w in warned] + [""]
    problems = [a for a in result.artifacts if a.status in ("error", "skipped")]
    if problems:
        lines += ["## Not verified", ""] + [f"- `{a.label}` {a.status}: {a.reason}" for a in problems] + [""]
    ev = result.evaluation
    if is_generative(result):  # decoder LMs: their own figures first; the generic table's latency is per token
        lines += generation_markdown(result)
    lines += [
        "## Artifacts", "", f"{_evaluated_on(ev)}; latency at batch 1 after warm-up, from one interleaved pass over "
        "the reference and every artifact measured here (in one process, in rounds whose order is shuffled every "
        "round; each artifact's own-process figures are `worker_latency_ms` in report.json). A speed-up is the "
        "median of the per-round ratios to the reference with its 95% interval; `≈` marks one whose interval "
        "contains 1 (not distinguishable from the reference), `=` a file identical to another row, which shares "
        "its figure. Agreement is top-1 agreement with the fp32 reference; SNR dB is the worst output's "
        "signal-to-noise ratio against the reference (per-output figures under Details).", "",
    ]
    metric = ev.get("metric", "accuracy")
    lines += [*_table([row(result.reference, metric)] + [row(a, metric) for a in result.artifacts], metric), ""]
    lines += _timing_note([result.reference, *result.artifacts])
    lines += shapes_markdown([result.reference, *result.artifacts])
    note = loaded_note(result.timing)
    lines += [f"**Timing:** {note}.", ""] if note else []
    native = precisions_note(result.machine)
    lines += [f"{native}. A precision's label says what executes (OpenVINO rows: `runtime.executes`).", ""] \
        if native else []
    lines += _scale_note(result)
    from edgeconv.report.prune import render_prune_markdown

    pruning = render_prune_markdown(result)
    if pruning:
        lines += [pruning]
    parity = result.export.get("parity")
    if parity:
        lines += [
            f"## Export parity (ONNX vs {parity.get('against', 'torch')})", "",
            f"{parity_text(parity)} on {parity['samples']} evaluation examples.", "",
        ]
    lines += ["## Details", ""]
    for a in [result.reference, *result.artifacts]:
        lines += _details(a)
    return "\n".join(lines).rstrip() + "\n"


def _details(a: ArtifactResult) -> list[str]:
    m = a.measurement
    if m is None:
        return []
    lines = [f"### {a.label}", "", f"- file: `{a.path}` ({a.size_bytes} bytes, sha256 `{(a.sha256 or '')[:16]}…`)"]
    lat = m.latency_ms
    lines.append(f"- latency ms: p50 {lat['p50']:.2f}, p90 {lat['p90']:.2f}, p99 {lat['p99']:.2f}, "
                 f"mean {lat['mean']:.2f} ± {lat['std']:.2f} over {lat['runs']} runs "
                 f"(min {lat.get('min', 0):.2f}, max {lat.get('max', 0):.2f}, {lat.get('outliers', 0)} outliers "
                 f"kept); {m.runtime.get('warmup_calls')} warm-up calls; load average before "
                 f"{_load(m.runtime)}")
    f1 = f"macro-F1 {m.macro_f1:.4f}; " if m.macro_f1 is not None else ""
    lines.append(f"- {f1}max abs error vs reference {m.max_abs_error:.3g}; "
                 f"peak memory {m.peak_memory_mb:.0f} MB (whole process)")
    if m.per_class:
        lines.append("- per class: " + ", ".join(
            f"{name}: P {c['precision']:.3f} R {c['recall']:.3f} F1 {c['f1']:.3f} (n={c['support']})"
            for name, c in m.per_class.items()))
    lines += _fidelity(m.outputs)
    if a.quantization:
        plain = {k: v for k, v in a.quantization.items() if k != "fallback"}
        lines.append("- quantization: " + ", ".join(f"{k}={v}" for k, v in plain.items()))
        lines += search_lines(a.quantization.get("fallback"))
    for b in a.budgets:
        lines.append(f"- budget {b.name}: limit {b.limit:g}, value {b.value:.4g}: {'pass' if b.passed else 'FAIL'}")
    return [*lines, ""]


def _evaluated_on(evaluation: dict) -> str:
    examples = f"Evaluated on {evaluation['examples']} examples"
    if is_custom(evaluation.get("metric") or "accuracy"):
        return (f"{examples}{', labelled' if evaluation.get('labelled') else ''} (metric: `{evaluation['metric']}`, "
                "the spec's own function; and the numeric fidelity of every output)")
    if evaluation.get("task") == "generic":
        return f"{examples} (task generic: no task metric; judged on the numeric fidelity of every output)"
    task = evaluation.get("task")
    if task in ("detection", "segmentation"):
        metric, truth = ("mAP@0.5:0.95", "boxes") if task == "detection" else ("mIoU", "classes")
        labels = "labelled boxes" if task == "detection" else "label masks"
        if evaluation.get("labelled"):
            return f"{examples} with {labels} ({metric} against them and against the reference's {truth})"
        return (f"{examples} without {labels}: {metric} against the reference's own {truth} (1.0 for the "
                "reference), and the numeric fidelity of every output")
    if not evaluation.get("labelled", True):
        return (f"{examples}: accuracy not measured, the evaluation set has no labels (judged on agreement and "
                "the numeric fidelity of every output)")
    return f"{examples}, labelled (metric: {evaluation['metric']})"


def _fidelity(outputs: dict[str, dict]) -> list[str]:
    """Per-output numeric fidelity against the reference (verify/fidelity.py says how each is computed)."""
    if not outputs:
        return []
    lines = ["", "  | output | shape | cosine (mean / worst example) | SNR dB (whole set / worst example) | max abs | "
             "mean abs | max rel | within atol+rtol·|ref| |", "  |---|---|---|---|---|---|---|---|"]
    for name, f in outputs.items():
        lines.append(f"  | `{name}` | {f['shape']} | {f['cosine']:.6f} / {f['cosine_min']:.6f} | "
                     f"{snr(f)} / {snr(f, 'snr_db_min')} | "
                     f"{f['max_abs_error']:.3g} | {f['mean_abs_error']:.3g} | {f['max_rel_error']:.3g} | "
                     f"{f['within_tolerance'] * 100:.2f}% (atol {f['atol']:g}, rtol {f['rtol']:g}) |")
    return [*lines, ""]


def _timing_note(rows: list) -> list[str]:
    """Which latency figures were measured in this build and which the stage cache gave back (same machine
    fingerprint, same artifact, runtime, threads and settings), with when they were taken."""
    reused = [(a.label, a.timing.measured_at) for a in rows if a.timing is not None and not a.timing.fresh]
    if not reused:
        return ["Every latency above was measured in this build.", ""] if rows[0].timing is not None else []
    listed = ", ".join(f"`{label}` ({when or 'time unknown'})" for label, when in reused)
    return [f"Latency reused from the stage cache, measured earlier on this machine (same CPU, ISA flags, cores, "
            f"runtime versions and threads): {listed}; `--no-cache` measures them again.", ""]


def _load(runtime: dict) -> str:
    before = (runtime.get("conditions") or {}).get("before") or {}
    load = before.get("load_average")
    return "unknown" if not load else f"{load[0]:.2f} on {before.get('cpus')} CPUs"


def _device_ranking(selections: list[dict]) -> list[str]:
    """``build --device``: every artifact of every runtime (and prune level), fastest first, and why each lost;
    ``prune.auto``: what each pruned level cost to build."""
    lines = []
    for s in selections:
        if s.get("ranking"):
            lines += [f"Artifacts for device class `{s['device']}`, fastest first (speed-up over the reference in "
                      "the interleaved pass, with its 95% interval):", "",
                      "| artifact | speed-up | interval | p50 ms | p90 ms | Δ accuracy | agreement | MB | status "
                      "| why |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            lines += [f"| `{r['artifact']}` | {r['speedup']:.2f}× | {r['speedup_interval'][0]:.2f}–"
                      f"{r['speedup_interval'][1]:.2f} | {ms(r.get('p50_ms'))} | {ms(r.get('p90_ms'))} | "
                      f"{delta_points(r.get('accuracy_delta'))} | {pct(r.get('agreement'))} | "
                      f"{mb(r['size_bytes'])} | {r['status']} | {r['why']} |" for r in s["ranking"]]
            lines += [f"- left out: {why}" for why in s.get("left_out") or []]
            lines.append("")
    costs = next((s["prune_candidates"] for s in selections if s.get("prune_candidates")), [])
    if costs:
        lines += ["Pruned candidates (`prune.auto`), each a prune, a distillation and its artifacts:", ""]
        lines += [f"- `{c['prune']}`: {c['rows']} artifact(s), {c['build_s']:.0f} s to build"
                  + (f"; failed: {c['error']}" if c.get("error") else "") for c in costs]
        lines.append("")
    return lines


def _scale_note(result: BuildResult) -> list[str]:
    """Where a sharded, merged or Ray-assisted build's figures came from (docs/scale.md)."""
    lines = []
    if result.shard:
        lines.append(f"Shard {result.shard['index']}/{result.shard['count']} of this build: "
                     f"{', '.join(result.shard['cells'])}. `edgeconv merge` joins the shards and makes the choices.")
    if result.merged:
        lines.append(f"Merged from {len(result.merged['shards'])} shard(s) ("
                     + "; ".join(f"{s['shard']}: {', '.join(s['cells'])}" for s in result.merged["shards"])
                     + "). Each shard timed its cells interleaved with the reference in its own pass: a speed-up "
                     "is over that pass's reference, and the choices rank speed-ups, not milliseconds across shards.")
    if result.ray:
        lines.append(f"{result.ray['trials']} search trial(s) ran as Ray tasks ({result.ray['address']}, "
                     f"{result.ray.get('cluster_cpus') or 0:g} CPUs); every latency figure was measured here.")
    return [*lines, ""] if lines else []
