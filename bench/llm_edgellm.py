"""One run: what the Jetson route's int4 (ModelOpt int4 AWQ, Edge-LLM's recipe) does to the fine-tuned SmolLM2
sample, measured on this machine: the fp32 torch reference against the same model with ModelOpt's quantizers
in place (``mtq.quantize``: the int4 weights the checkpoint exports, computed in fp32 here; the engine on the
board computes them in fp16 with Edge-LLM's int4 GEMM, which this cannot time or run). Calibration: the
sample's calib tweets as chat prompts; fidelity: eval tweets' prompts with their gold answer, teacher-forced;
task: greedy answers parsed to a label. No speed: there is no Jetson here.

    python bench/llm_edgellm.py --calib 32 --tf 30 --task 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "samples" / "smollm2-sentiment"))

from train import BASE, LABELS, load, prompt_of  # noqa: E402  (the sample's own prompt)

from edgeconv.backends.tensorrt_edgellm.quantize import quantize_model  # noqa: E402
from edgeconv.backends.tensorrt_edgellm.recipe import RECIPES  # noqa: E402
from edgeconv.models.causal_lm import load_causal_lm  # noqa: E402
from edgeconv.verify.language import task_accuracy, teacher_forced, torch_logits  # noqa: E402
from edgeconv.verify.reference_lm import TorchLMRunner  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calib", type=int, default=32, help="calibration tweets (the vendor's default is 512)")
    parser.add_argument("--tf", type=int, default=30, help="eval tweets scored teacher-forced")
    parser.add_argument("--task", type=int, default=100, help="eval tweets answered greedily")
    parser.add_argument("--algorithm", default="awq_lite", help="ModelOpt's: awq_lite (the vendor's), max (RTN)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    adapter = str(ROOT / "samples" / "smollm2-sentiment" / "adapter")
    reference, candidate = load_causal_lm(BASE, adapter=adapter), load_causal_lm(BASE, adapter=adapter)
    tok = reference.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")
    rows = load("eval")
    tf_texts = [[*tok(prompt_of(tok, r["text"]) + r["label"], add_special_tokens=False).input_ids, end]
                for r in rows[: args.tf]]
    calib = [prompt_of(tok, r["text"]) for r in load("calib", args.calib)]
    recipe = replace(RECIPES["int4"], algorithm=args.algorithm)
    start = time.perf_counter()
    quantize_model(candidate.model.eval(), tok, recipe, calib)
    quantize_s = time.perf_counter() - start
    fidelity = teacher_forced(torch_logits(reference.model), torch_logits(candidate.model), tf_texts)
    prompts = [tok(prompt_of(tok, r["text"]), add_special_tokens=False).input_ids for r in rows[: args.task]]
    truth = [r["label"] for r in rows[: args.task]]
    result = {"recipe": {**recipe.__dict__, "calibration_texts": len(calib)}, "quantize_s": round(quantize_s, 1),
              "fidelity": fidelity.to_dict()}
    for name, lm in (("reference", reference), ("int4_awq", candidate)):
        with TorchLMRunner(lm, threads=args.threads) as runner:
            answers = [tok.decode(runner.generate(p, 4).tokens) for p in prompts]
        result[f"{name}_task"] = task_accuracy(answers, truth, LABELS).to_dict()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
