"""The fastest artifact for this machine: `edgeconv build --device x86-64` against the peers' best hand-made
artifacts, on equal terms, in one run.

Rows, all timed in this one process, batch 1, the same thread count, on the same seeded sample of the evaluation
set, each row at the shape it takes on a device: every tweet at its own length where the runtime has a dynamic
sequence axis (ONNX Runtime and OpenVINO, peers included: the plain export has dynamic axes; verification's own
check, `verify.shapes.takes_real_length`, decides), padded to 64 where it cannot (LiteRT: its tools produce a
fixed shape; a LiteRT artifact with length buckets gets the padded examples and its own runner picks the bucket,
as verification times it). A second pass times every row padded (the worst case: a bucketed row's largest
bucket); the two passes alternate round by round, each round in a new seeded order (verification's `retime.Pass`).
Rows:
- PyTorch eager fp32, as users run it (transformers' default attention, `torch.inference_mode()`, own length);
- the ORT fp32 reference (the plain export every speed-up is a share of);
- the peers, made by hand the way each tool's docs say: ORT `quantize_dynamic` on the plain export; ORT's BERT
  fusions then `quantize_dynamic`; Optimum's `onnxruntime quantize` preset for this CPU (--avx512_vnni, --avx512
  or --avx2; with --optimum-cli: Optimum pins transformers 4.x, so it lives in its own venv); OpenVINO + NNCF's
  default int8 (`nncf.quantize`, transformer model type, the same calibration set), compiled with OpenVINO's
  defaults as a user runs it (bf16 for the float parts on an AMX / AVX-512 BF16 CPU); LiteRT dynamic int8
  (ai-edge-quantizer's `dynamic_wi8_afp32` recipe on the float flatbuffer litert-torch converts, which the build made);
- every artifact of `edgeconv build --device x86-64` on the sample, the `auto` choice marked;
- with --prune: the pruned sample's spec with `prune.auto: true` on ONNX Runtime, OpenVINO and LiteRT (the
  unpruned precisions and the pruned level as candidates), each target's `auto` choice marked too.

Every row is scored on the whole evaluation set at the shape it is timed on (accuracy, agreement with the
reference's predictions) through the runner classes verification uses. It prints `auto`'s time as a share of the
fastest peer's at real length (unpruned rows only), and the pruned build's `auto` as a share of the ORT fp32
reference at padded length, each with the per-round paired ratio's 95% interval. The CPU's model and ISA flags
are printed: which artifact wins depends on them.

    python bench/fastest.py [--prune] [--optimum-cli /path/to/venv/bin/optimum-cli] [--rounds 12 --runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_timing_args, build_feeds, eager_model, markdown_table, paired_ratio, shaped_inputs

from edgeconv.backends.runner import Runner

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "tweet-sentiment"
REFERENCE = "ORT fp32 reference (plain export)"
EAGER = "PyTorch eager fp32"
OPENVINO_PEER = "peer: OpenVINO + NNCF int8 (transformer)"


def edgeconv_rows(out: Path, prune: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The device build's report entries, the pruned build's (or none), and the device build's report."""
    from edgeconv.api import build
    from edgeconv.spec import load_spec

    device = build(load_spec(SAMPLE / "edgeconv.yaml"), out=out / "device", device="x86-64").to_dict()
    pruned: list[dict[str, Any]] = []
    if prune:
        data = yaml.safe_load((SAMPLE / "pruned.yaml").read_text())
        data["prune"]["auto"] = True
        # every x86 runtime builds the pruned level (LiteRT converts the pruned torch model, with length buckets)
        data["targets"] = [{"name": name, "precisions": ["auto"]}
                           for name in ("x86-cpu-ort", "x86-cpu-openvino", "x86-cpu-tflite")]
        budgets = yaml.safe_load((SAMPLE / "edgeconv.yaml").read_text())["budgets"]
        # The pruning goal is the sample's *accuracy* budget: a distilled student agrees about 0.96 with its
        # teacher at equal accuracy, so the teacher-agreement budget is left out here (the table shows agreement).
        budgets.pop("min_agreement", None)
        data["budgets"] = budgets
        spec_file = SAMPLE / ".bench-pruned-auto.yaml"  # beside the sample: its relative paths resolve
        spec_file.write_text(yaml.safe_dump(data))
        try:
            report = build(load_spec(spec_file), out=out / "pruned").to_dict()
        finally:
            spec_file.unlink()
        pruned = [a for a in report["artifacts"] if "@prune-" in a["target"]]
        for s in report["selections"]:
            print(f"pruned build (budgets {budgets}): auto chose {s['target']} {s['precision']}: {s['reason']}")
        for a in pruned:
            a["selected"] = any((s["target"], s["precision"]) == (a["target"], a["precision"])
                                for s in report["selections"])
    return device["artifacts"], pruned, device


def hand_made(reference: Path, calib: dict[str, np.ndarray], tflite_fp32: Path | None, folder: Path,
              optimum_cli: str | None) -> dict[str, tuple[str, Path]]:
    """label -> (runtime, path) of what a user makes with each peer tool directly."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    out: dict[str, tuple[str, Path]] = {}
    quantize_dynamic(str(reference), str(folder / "dyn.onnx"), weight_type=QuantType.QInt8)
    out["peer: ORT quantize_dynamic"] = ("onnxruntime", folder / "dyn.onnx")
    optimize_model(str(reference), model_type="bert", num_heads=12, hidden_size=384).save_model_to_file(
        str(folder / "fused.onnx"))
    quantize_dynamic(str(folder / "fused.onnx"), str(folder / "fused_dyn.onnx"), weight_type=QuantType.QInt8,
                     per_channel=True, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    out["peer: ORT fusions + per-channel quantize_dynamic"] = ("onnxruntime", folder / "fused_dyn.onnx")
    if optimum_cli:
        (folder / "optimum_in").mkdir()
        (folder / "optimum_in" / "model.onnx").write_bytes(reference.read_bytes())
        from edgeconv.machine import cpu

        flags = cpu()["int8_flags"]  # Optimum's preset for this CPU, as its docs tell a user to pick
        preset = "--avx512_vnni" if "avx512_vnni" in flags else "--avx512" if "avx512f" in flags else "--avx2"
        subprocess.run([optimum_cli, "onnxruntime", "quantize", "--onnx_model", str(folder / "optimum_in"), preset,
                        "-o", str(folder / "optimum_out")], check=True, capture_output=True)
        out[f"peer: Optimum quantize {preset}"] = ("onnxruntime", next((folder / "optimum_out").glob("*.onnx")))
    try:
        import nncf
        import openvino as ov

        items = [{k: v[i : i + 1] for k, v in calib.items()} for i in range(len(next(iter(calib.values()))))]
        model = nncf.quantize(ov.convert_model(str(reference)), nncf.Dataset(items),
                              model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items))
        ov.save_model(model, str(folder / "ov_int8.xml"))
        out[OPENVINO_PEER] = ("openvino", folder / "ov_int8.xml")
    except ImportError as exc:
        print(f"peer OpenVINO + NNCF not run: {exc}")
    if tflite_fp32 is not None:
        from ai_edge_quantizer import quantizer, recipe

        q = quantizer.Quantizer(str(tflite_fp32))
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        q.quantize().export_model(str(folder / "litert_dyn.tflite"))
        out["peer: LiteRT dynamic int8 (AEQ)"] = ("tflite", folder / "litert_dyn.tflite")
    return out


class EagerRunner(Runner):
    """PyTorch eager as a row of the pass: the fine-tuned model called on torch tensors of the feeds."""

    name = "torch"

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def activate(self) -> None:
        """Nothing to load: the model is in memory."""

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in feeds]
        with torch.inference_mode():
            logits = self.model(**{n: torch.from_numpy(feeds[n]) for n in names}).logits
        return {"logits": logits.numpy()}


def runner_record(runtime: str, path: Path, facts: dict[str, Any], runner_of: dict[str, dict[str, Any]],
                  threads: int) -> tuple[str, dict[str, Any]]:
    """(runner class, kwargs) of a row: an edgeconv artifact through its own record (as verification runs it, a
    bucketed LiteRT runner included); a peer through the same runner class with the runtime's defaults (OpenVINO's
    own inference precision, as a user compiles it), the thread count fixed for all."""
    record = facts.get("runner") or runner_of[runtime]
    kwargs = {**record["kwargs"], "path": str(path), "threads": threads}
    if not facts and runtime == "openvino":
        kwargs.pop("inference_precision", None)
    return record["runner"], kwargs


def worst_case(examples: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """The padded pass's inputs for a runner with length buckets: it picks its bucket from the attention mask, so a
    full mask runs the largest bucket, the padded worst case (as verification times it)."""
    return [{**e, "attention_mask": np.ones_like(e["attention_mask"])} for e in examples]


def predictions(runner: Any, examples: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Top-1 of every example, one call each (batch 1, as timed)."""
    return np.array([int(next(iter(runner.infer(e).values())).argmax(-1)[0]) for e in examples])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(parser, runs=20)
    parser.set_defaults(rounds=12)  # the paired ratio's 95% interval runs from the 3rd to the 10th of 12 rounds
    parser.add_argument("--examples", type=int, default=64, help="seeded sample of the evaluation set timed")
    parser.add_argument("--prune", action="store_true", help="also the pruned sample with prune.auto (distils)")
    parser.add_argument("--optimum-cli", help="optimum-cli of a venv with optimum[onnxruntime]")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "fastest")
    args = parser.parse_args()

    from edgeconv.machine import cpu

    artifacts, pruned, report = edgeconv_rows(args.out, args.prune)
    built = args.out / "device"
    feeds, calib = build_feeds(built), build_feeds(built, "calibration")
    labels = np.load(built / "data" / "eval.npz")["__labels__"]
    runner_of = {a["backend"]: a["runner"] for a in artifacts if a.get("runner")}  # the runners verification used
    chosen = next(((s["target"], s["precision"]) for s in report["selections"]), None)

    rows: dict[str, tuple[str, Path, dict[str, Any]]] = {}  # label -> (runtime, path, facts)
    rows[REFERENCE] = ("onnxruntime", Path(report["reference"]["path"]), {})
    with tempfile.TemporaryDirectory() as tmp:
        tflite = next((Path(a["path"]) for a in artifacts if a["target"] == "x86-cpu-tflite"
                       and a["precision"] == "fp32" and a["path"]), None)
        for label, (runtime, path) in hand_made(Path(report["reference"]["path"]), calib, tflite, Path(tmp),
                                                args.optimum_cli).items():
            rows[label] = (runtime, path, {})
        for a in [*artifacts, *pruned]:
            if a["status"] in ("passed", "failed") and a.get("path"):
                mark = " ★ auto" if (a["target"], a["precision"]) == chosen or a.get("selected") else ""
                rows[f"edgeconv {a['target']} {a['precision']}{mark}"] = (a["backend"], Path(a["path"]), a)
        table = measure(rows, runner_of, feeds, labels, args)
    facts = cpu()
    flags = [*facts["int8_flags"], *facts.get("float_flags", [])]
    print(f"CPU: {facts['model']} ({facts['arch']}), ISA: {', '.join(flags) or 'none'}; {args.threads} threads, "
          f"batch 1, {args.examples} evaluation tweets timed ({table['lengths']}), {len(labels)} scored; "
          f"{args.rounds} rounds x {args.runs} calls per row per shape, the real and padded passes alternating; "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    print(markdown_table(["artifact", "input", "p50 ms", "p90 ms", "× ORT fp32", "padded p50 ms", "× ORT fp32 padded",
                          "accuracy", "Δ pt", "agreement", "MB"], table["rows"]))
    for line in table["verdicts"]:
        print(line)
    (args.out / "bench.json").write_text(json.dumps(table, indent=2))


def measure(rows: dict[str, tuple[str, Path, dict[str, Any]]], runner_of: dict[str, dict[str, Any]],
            feeds: dict[str, np.ndarray], labels: np.ndarray, args: Any) -> dict[str, Any]:
    """Score every row on the whole set at its shape, then time them all, the real and padded passes alternating
    round by round; the table and the verdicts."""
    from contextlib import ExitStack

    import torch

    from edgeconv.data.trim import real_length
    from edgeconv.spec import load_spec
    from edgeconv.verify.retime import Pass
    from edgeconv.verify.worker import load_runner

    torch.set_num_threads(args.threads)
    count = len(labels)
    every = [{k: v[i : i + 1] for k, v in feeds.items()} for i in range(count)]
    sample = sorted(np.random.default_rng(0).choice(count, min(args.examples, count), replace=False).tolist())
    timed = [every[i] for i in sample]
    runners: dict[int, Any] = {}
    inputs: dict[int, tuple[str, list[dict[str, np.ndarray]]]] = {}
    predicted: dict[str, np.ndarray] = {}
    labels_of = [EAGER, *rows]
    with ExitStack() as stack:
        for i, label in enumerate(labels_of):
            if label == EAGER:
                runners[i] = stack.enter_context(EagerRunner(eager_model(load_spec(SAMPLE / "edgeconv.yaml"))))
                inputs[i] = shaped_inputs(runners[i], timed, dynamic=True)
            else:
                runtime, path, facts = rows[label]
                target, kwargs = runner_record(runtime, path, facts, runner_of, args.threads)
                runners[i] = stack.enter_context(load_runner(target, kwargs, in_turns=True))
                if label.startswith("peer:") and getattr(runners[i], "buckets", None):
                    # the peer is quantized from edgeconv's float file, which carries length buckets; a user's
                    # tools make one padded signature: its largest one is that graph at the padded length
                    runners[i].buckets = []
                inputs[i] = shaped_inputs(runners[i], timed)
            shape, _ = inputs[i]
            scored = shaped_inputs(runners[i], every, dynamic=shape == "real")[1]
            predicted[label] = predictions(runners[i], scored)
        real = Pass(runners, {i: inputs[i][1] for i in runners}, args.runs)
        padded = Pass(runners, {i: worst_case(timed) if inputs[i][0] == "buckets" else timed for i in runners},
                      args.runs)
        real.warm_up(20)
        padded.warm_up(20)
        for _ in range(args.rounds):  # alternating, so a burst of load hits both shapes alike
            real.run(1)
            padded.run(1)
        executes = {label: getattr(runners[i], "executes", None) for i, label in enumerate(labels_of)}
    index = {label: i for i, label in enumerate(labels_of)}
    p50 = {label: float(np.median(np.concatenate(real.samples[i]))) * 1e3 for label, i in index.items()}
    p90 = {label: float(np.percentile(np.concatenate(real.samples[i]), 90)) * 1e3 for label, i in index.items()}
    p50_padded = {label: float(np.median(np.concatenate(padded.samples[i]))) * 1e3 for label, i in index.items()}
    truth = predicted[REFERENCE]
    scores = {label: {"accuracy": float(np.mean(p == labels)), "agreement": float(np.mean(p == truth))}
              for label, p in predicted.items()}
    base, base_padded, accuracy = p50[REFERENCE], p50_padded[REFERENCE], scores[REFERENCE]["accuracy"]
    table = []
    for label in labels_of:
        path = rows[label][1] if label in rows else None
        size = sum(p.stat().st_size for p in (path, path.with_suffix(".bin"), Path(f"{path}.data"))
                   if p.is_file()) if path else 0
        shown = label + (f" (executes {executes[label]})" if executes[label] and label.startswith("peer:") else "")
        kind = inputs[index[label]][0]
        fed = {"real": "own length", "buckets": f"length buckets {getattr(runners[index[label]], 'buckets', '')}"}
        table.append([shown, fed.get(kind, "padded (static shape)"),
                      f"{p50[label]:.2f}", f"{p90[label]:.2f}", f"{p50[label] / base:.2f}",
                      f"{p50_padded[label]:.2f}", f"{p50_padded[label] / base_padded:.2f}",
                      f"{scores[label]['accuracy']:.3f}", f"{(scores[label]['accuracy'] - accuracy) * 100:+.1f}",
                      "–" if label == EAGER else f"{scores[label]['agreement']:.3f}",
                      f"{size / 1e6:.1f}" if size else "–"])
    lengths = [real_length(e) or 0 for e in timed]
    figures = {"p50": p50, "p50_padded": p50_padded, "scores": scores, "real": real, "padded": padded,
               "index": index, "rows": rows}
    return {"rows": table, "verdicts": verdicts(figures), "p50_ms": p50, "p90_ms": p90, "p50_padded_ms": p50_padded,
            "scores": scores, "executes": executes,
            "lengths": f"own lengths {min(lengths)}-{max(lengths)} tokens, median {int(np.median(lengths))}"}


def verdicts(f: dict[str, Any]) -> list[str]:
    """The issue's two goals: unpruned `auto` against the fastest peer at real length (pruned rows are not in
    this one), and pruned `auto` against the ORT fp32 reference at padded length; the best unpruned edgeconv row
    within a point of accuracy too, when `auto` (chosen in the build's own pass) is not it in this one."""
    from edgeconv.fsutil import sha256_file

    p50, pad, scores, index, rows = f["p50"], f["p50_padded"], f["scores"], f["index"], f["rows"]
    accuracy = scores[REFERENCE]["accuracy"]

    def quality(label: str) -> str:
        return (f"accuracy {(scores[label]['accuracy'] - accuracy) * 100:+.1f} pt, agreement "
                f"{scores[label]['agreement']:.3f}")

    def ratio(label: str, base: str, which: Any, times: dict[str, float]) -> str:
        median, low, high = paired_ratio(which.samples[index[label]], which.samples[index[base]])
        return f"{times[label] / times[base]:.2f}x (per-round paired {median:.2f}x, 95% interval {low:.2f}-{high:.2f})"

    peers = [label for label in rows if label.startswith("peer:")]
    fastest = min(peers, key=lambda label: p50[label])
    out = []
    unpruned = [label for label in rows if label.startswith("edgeconv") and "@prune-" not in label]
    within = [label for label in unpruned if scores[label]["accuracy"] >= accuracy - 0.01]
    best = min(within, key=lambda label: p50[label]) if within else None
    for label in [r for r in unpruned if "★ auto" in r] + ([best] if best and "★ auto" not in best else []):
        same = sha256_file(rows[label][1]) == sha256_file(rows[fastest][1])
        name = "auto" if "★ auto" in label else "best unpruned edgeconv row within 1 pt"
        out.append(f"{name}: {label.removesuffix(' ★ auto')} at {p50[label]:.2f} ms (own-length inputs where it "
                   f"takes them) vs the fastest peer ({fastest}, {p50[fastest]:.2f} ms): "
                   f"{ratio(label, fastest, f['real'], p50)}, goal <= 0.85x; {quality(label)}"
                   + ("; the same bytes as that peer's file" if same else ""))
    for label in (r for r in rows if "★ auto" in r and "@prune-" in r):
        out.append(f"auto with pruning: {label.removesuffix(' ★ auto')} at padded length {pad[label]:.2f} ms vs the "
                   f"ORT fp32 reference padded ({pad[REFERENCE]:.2f} ms): {ratio(label, REFERENCE, f['padded'], pad)},"
                   f" goal <= 0.15x; at own length {ratio(label, REFERENCE, f['real'], p50)} of the reference at "
                   f"own length; {quality(label)}")
    return out


if __name__ == "__main__":
    main()
