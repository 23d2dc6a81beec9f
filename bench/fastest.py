"""The fastest artifact for this machine: `edgeconv build --device x86-64` against the peers' best hand-made
artifacts, in one run.

Rows, all timed in this one process, round-robin, batch 1, the same example and thread count:
- PyTorch eager fp32, as users run it (transformers' default attention, `torch.inference_mode()`);
- the ORT fp32 reference (the plain export every speed-up is a share of);
- the peers, made by hand the way each tool's docs say: ORT `quantize_dynamic` on the plain export; ORT's BERT
  fusions then `quantize_dynamic`; Optimum's `onnxruntime quantize` preset for this CPU (--avx512_vnni, --avx512
  or --avx2; with --optimum-cli: Optimum pins transformers 4.x, so it lives in its own venv); OpenVINO + NNCF's
  default int8 (`nncf.quantize`, transformer model type, the same calibration set); LiteRT dynamic int8
  (ai-edge-quantizer's `dynamic_wi8_afp32` recipe on the float flatbuffer litert-torch converts, which the build made);
- every artifact of `edgeconv build --device x86-64` on the sample, the `auto` choice marked;
- with --prune: the pruned sample's spec with `prune.auto: true` on ONNX Runtime (the unpruned precisions and the
  pruned level as candidates), its `auto` choice marked too.

Every row is scored on the whole evaluation set (accuracy, agreement with the reference) through the same
runner classes verification uses. The CPU's model and int8 ISA flags are printed: which artifact wins depends
on them.

    python bench/fastest.py [--prune] [--optimum-cli /path/to/venv/bin/optimum-cli] [--rounds 5 --runs 40]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_timing_args, build_feeds, eager_model, markdown_table, time_interleaved

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "tweet-sentiment"
REFERENCE = "ORT fp32 reference (plain export)"


def edgeconv_rows(out: Path, prune: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The device build's report entries, the pruned build's (or none), and the device build's report."""
    from edgeconv.api import build
    from edgeconv.spec import load_spec

    device = build(load_spec(SAMPLE / "edgeconv.yaml"), out=out / "device", device="x86-64").to_dict()
    pruned: list[dict[str, Any]] = []
    if prune:
        data = yaml.safe_load((SAMPLE / "pruned.yaml").read_text())
        data["prune"]["auto"] = True
        data["targets"] = [{"name": "x86-cpu-ort", "precisions": ["auto"]}]
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
        out["peer: OpenVINO + NNCF int8 (transformer)"] = ("openvino", folder / "ov_int8.xml")
    except ImportError as exc:
        print(f"peer OpenVINO + NNCF not run: {exc}")
    if tflite_fp32 is not None:
        from ai_edge_quantizer import quantizer, recipe

        q = quantizer.Quantizer(str(tflite_fp32))
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        q.quantize().export_model(str(folder / "litert_dyn.tflite"))
        out["peer: LiteRT dynamic int8 (AEQ)"] = ("tflite", folder / "litert_dyn.tflite")
    return out


def score(runner: Any, feeds: dict[str, np.ndarray], labels: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Accuracy and top-1 agreement with the reference over the evaluation set, at batch 1."""
    first = [next(iter(runner.infer({k: v[i : i + 1] for k, v in feeds.items()}).values()))
             for i in range(len(labels))]
    predicted = np.concatenate(first).argmax(-1)
    return {"accuracy": float(np.mean(predicted == labels)),
            "agreement": float(np.mean(predicted == reference.argmax(-1)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(parser, runs=40)
    parser.add_argument("--prune", action="store_true", help="also the pruned sample with prune.auto (distils)")
    parser.add_argument("--optimum-cli", help="optimum-cli of a venv with optimum[onnxruntime]")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "fastest")
    args = parser.parse_args()

    import torch

    from edgeconv.machine import cpu
    from edgeconv.spec import load_spec
    from edgeconv.verify.worker import load_runner

    artifacts, pruned, report = edgeconv_rows(args.out, args.prune)
    built = args.out / "device"
    feeds, calib = build_feeds(built), build_feeds(built, "calibration")
    labels = np.load(built / "data" / "eval.npz")["__labels__"]
    reference_out = np.load(built / "verify" / "reference" / "outputs.npy")
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
        table = measure(rows, runner_of, feeds, labels, reference_out, args, load_runner, eager_model,
                        load_spec(SAMPLE / "edgeconv.yaml"), torch)
    facts = cpu()
    print(f"CPU: {facts['model']} ({facts['arch']}), int8 ISA: {', '.join(facts['int8_flags']) or 'none'}; "
          f"{args.threads} threads, batch 1, sequence 64, {len(labels)} evaluation tweets, "
          f"{args.rounds}x{args.runs} interleaved calls per row")
    print(markdown_table(["artifact", "p50 ms", "× ORT fp32", "accuracy", "Δ pt", "agreement", "MB"], table["rows"]))
    for line in table["verdicts"]:
        print(line)
    (args.out / "bench.json").write_text(json.dumps(table, indent=2))


def measure(rows: dict[str, tuple[str, Path, dict[str, Any]]], runner_of: dict[str, dict[str, Any]],
            feeds: dict[str, np.ndarray], labels: np.ndarray, reference: np.ndarray, args: Any, load_runner: Any,
            eager_model: Any, spec: Any, torch: Any) -> dict[str, Any]:
    """Score every row, then time them all interleaved with PyTorch eager; the table and the verdicts."""
    from contextlib import ExitStack

    from edgeconv.fsutil import sha256_file

    torch.set_num_threads(args.threads)
    model = eager_model(spec)
    example = {k: v[:1] for k, v in feeds.items()}
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]
    tensors = {n: torch.from_numpy(example[n]) for n in names}

    def eager() -> None:
        with torch.inference_mode():
            model(**tensors)

    calls: dict[str, Any] = {"PyTorch eager fp32": eager}
    scores: dict[str, dict[str, float]] = {}
    with ExitStack() as stack:
        for label, (runtime, path, _) in rows.items():
            spec_of = runner_of[runtime]
            kwargs = {**spec_of["kwargs"], "path": str(path), "threads": args.threads}
            runner = stack.enter_context(load_runner(spec_of["runner"], kwargs))
            scores[label] = score(runner, feeds, labels, reference)
            calls[label] = (lambda r: lambda: r.infer(example))(runner)
        p50 = time_interleaved(calls, args.rounds, args.runs)
    base = p50[REFERENCE]
    accuracy = scores[REFERENCE]["accuracy"]
    table = [["PyTorch eager fp32", f"{p50['PyTorch eager fp32']:.2f}", f"{p50['PyTorch eager fp32'] / base:.2f}",
              f"{accuracy:.3f}", "–", "–", "–"]]
    for label, (_, path, _) in rows.items():
        size = sum(p.stat().st_size for p in (path, path.with_suffix(".bin"), Path(f"{path}.data")) if p.is_file())
        table.append([label, f"{p50[label]:.2f}", f"{p50[label] / base:.2f}", f"{scores[label]['accuracy']:.3f}",
                      f"{(scores[label]['accuracy'] - accuracy) * 100:+.1f}", f"{scores[label]['agreement']:.3f}",
                      f"{size / 1e6:.1f}"])
    peers = [label for label in rows if label.startswith("peer:")]
    fastest_peer = min(peers, key=lambda label: p50[label])
    verdicts = []
    for label in (r for r in rows if "★ auto" in r):
        pruned = "@prune-" in label
        same = sha256_file(rows[label][1]) == sha256_file(rows[fastest_peer][1])
        goal = (f"<= 0.40x the ORT fp32 reference: {p50[label] / base:.2f}x" if pruned else
                f"vs the fastest peer ({fastest_peer}, {p50[fastest_peer]:.2f} ms): "
                f"{p50[label] / p50[fastest_peer]:.2f}x"
                + (" (the same bytes as that peer's file: equal by construction, the ratio is this run's noise "
                   "between two loads of one file)" if same else ""))
        verdicts.append(f"auto{' with pruning' if pruned else ''}: {label.removesuffix(' ★ auto')} at "
                        f"{p50[label]:.2f} ms, {goal}; accuracy "
                        f"{(scores[label]['accuracy'] - accuracy) * 100:+.2f} pt, agreement "
                        f"{scores[label]['agreement']:.3f}")
    return {"rows": table, "verdicts": verdicts, "p50_ms": p50, "scores": scores}


if __name__ == "__main__":
    main()
