#!/usr/bin/env python3
"""Generate with this bundle's language model as edgeconv verified it: greedy decoding, the build's chat
template, system prompt and generation length; ``--check`` replays the golden greedy generations. Needs only
what requirements.txt names (onnxruntime-genai, numpy): never edgeconv, never torch. The modules under ``pkg/``
are edgeconv's generation runner and its base, the very files verification ran, copied as they are.

    python run.py "some text"        the text fills the build's user turn (metadata.json: preprocessing.prompt),
                                     wrapped in the chat template; the answer streams to stdout token by token
    python run.py --plain "question" the text is the whole user turn (still in the chat template)
    python run.py --check            each golden prompt must tokenize to the verified prompt ids and generate
                                     exactly the greedy tokens recorded from the verified artifact (the whole
                                     generation length, the stop token held back)
Options: --precision P (bundles holding several), --threads N, --max-new-tokens N, --json (ids and text, at the
end), --temperature T (above 0: the runtime samples, with --top-p, --top-k and --seed; greedy is what was
verified). Exit codes: 0 ok, 1 the check found a difference, 2 bad input or no runtime.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "pkg"))


class BadInput(Exception):
    """One line for the user, exit 2."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("text", nargs="?", help="the text of the user turn")
    parser.add_argument("--plain", action="store_true", help="the text is the whole user turn (no prompt format)")
    parser.add_argument("--check", action="store_true", help="replay the golden generations; exit 1 on a difference")
    parser.add_argument("--precision", help="which of the bundle's artifacts (default: the one the build chose)")
    parser.add_argument("--threads", type=int, help="runtime threads (default: the ones verification used)")
    parser.add_argument("--max-new-tokens", type=int, help="generation length (default: the build's new_tokens)")
    parser.add_argument("--json", action="store_true", help="print prompt ids, tokens and text as one JSON object")
    parser.add_argument("--temperature", type=float, default=0.0, help="above 0: sample (default 0: greedy)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling's probability mass")
    parser.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest tokens (0: all)")
    parser.add_argument("--seed", type=int, help="repeat a draw (default: a fresh one)")
    args = parser.parse_args(argv)
    try:
        meta = json.loads((HERE / "metadata.json").read_text(encoding="utf-8"))
        precision = args.precision or meta["default"]
        if precision not in meta["artifacts"]:
            raise BadInput(f"this bundle holds no {precision} artifact (it holds {', '.join(meta['artifacts'])})")
        if not args.check and not args.text:
            raise BadInput('nothing to generate from: give a text (python run.py "...") or --check')
        runner = load_runner(meta, precision, args.threads)
        try:
            runner.activate()
        except (ImportError, RuntimeError) as exc:
            raise BadInput(f"cannot load the {precision} artifact in its runtime ({exc}): "
                           "pip install -r requirements.txt") from exc
        try:
            if args.check:
                return check(meta, precision, runner)
            recipe = meta["preprocessing"]
            user = args.text if args.plain else recipe["prompt"].format(text=args.text)
            length = args.max_new_tokens or int(recipe["new_tokens"])
            generate(runner, runner.encode(prompt_text(recipe, user)), length, args.json, sampling(args))
        finally:
            runner.deactivate()
        return 0
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def load_runner(meta: dict[str, Any], precision: str, threads: int | None) -> Any:
    from edgeconv.verify.worker import load_runner as worker_runner

    entry = meta["artifacts"][precision]
    kwargs = {**entry["runner"]["kwargs"], "path": str(HERE / entry["folder"])}
    if threads:
        kwargs["threads"] = threads
    return worker_runner(entry["runner"]["runner"], kwargs)  # imports the runtime only when activated


def prompt_text(recipe: dict[str, Any], user: str) -> str:
    """The text the model sees: the chat template's rendering around one user turn, recorded by the build as the
    strings before and after the user's text (so neither jinja nor transformers is needed here)."""
    return recipe["prefix"] + user + recipe["suffix"]


def sampling(args: argparse.Namespace) -> Any:
    """None (greedy) unless --temperature is above 0; the runtime's own sampler then draws."""
    from edgeconv.verify.generation import Sampling

    if args.temperature < 0 or not 0 < args.top_p <= 1 or args.top_k < 0:
        raise BadInput("--temperature must be >= 0, --top-p in (0, 1], --top-k >= 0")
    if args.temperature == 0:
        return None
    return Sampling(args.temperature, args.top_p, args.top_k, args.seed)


def generate(runner: Any, prompt_ids: list[int], length: int, as_json: bool, sampled: Any = None) -> None:
    """Greedy (or ``sampled``) generation, each token printed as it arrives (onnxruntime-genai's tokenizer
    stream joins the pieces of a multi-byte character), or one JSON object at the end."""
    stream = runner.tokenizer.create_stream()

    def show(token: int) -> None:
        sys.stdout.write(stream.decode(token))
        sys.stdout.flush()

    result = runner.generate(prompt_ids, length, on_token=None if as_json else show, sampling=sampled)
    if as_json:
        print(json.dumps({"prompt_ids": prompt_ids, "tokens": result.tokens, "text": runner.decode(result.tokens),
                          "stopped": result.stopped}, ensure_ascii=False))
    else:
        print()


def check(meta: dict[str, Any], precision: str, runner: Any) -> int:
    """Each golden prompt rebuilt from its text and tokenized here must give the verified prompt ids; each must
    generate exactly the tokens recorded from the verified artifact."""
    try:
        golden = json.loads((HERE / meta["golden"]["file"]).read_text(encoding="utf-8"))
        examples, length = golden["examples"], int(golden["new_tokens"])
        recorded = [(str(e["text"]), [int(t) for t in e["prompt_ids"]], [int(t) for t in e["tokens"][precision]])
                    for e in examples]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"the golden file {meta['golden']['file']} is unreadable ({exc!r}): "
                       "copy the bundle again") from exc
    recipe, problems = meta["preprocessing"], []
    for i, (text, prompt_ids, want) in enumerate(recorded):
        ids = runner.encode(prompt_text(recipe, recipe["prompt"].format(text=text)))
        if ids != prompt_ids:
            k = first_difference(ids, prompt_ids)
            problems.append(f"golden prompt {i}: the tokenizer here gives {len(ids)} prompt tokens, verification "
                            f"{len(prompt_ids)}, first differing at position {k}")
        # from the verified ids (the runtime checked on its own), the stop token held back as when recorded
        got = runner.generate(prompt_ids, length, min_new_tokens=length).tokens
        if got != want:
            k = first_difference(got, want)
            problems.append(f"golden prompt {i}: greedy token {k} is {token_at(runner, got, k)}, verified "
                            f"{token_at(runner, want, k)} ({len(got)} tokens here, {len(want)} verified)")
    for line in problems:
        print(line)
    if problems:
        print(f"FAILED: {len(problems)} difference(s) over {len(recorded)} golden prompts ({precision})")
        return 1
    print(f"ok: {len(recorded)} golden prompts of {precision} give the verified prompt ids and greedy tokens")
    return 0


def first_difference(a: list[int], b: list[int]) -> int:
    return next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def token_at(runner: Any, tokens: list[int], k: int) -> str:
    return f"{tokens[k]} {runner.decode([tokens[k]])!r}" if k < len(tokens) else "the end"


if __name__ == "__main__":
    sys.exit(main())
