"""What a board needs to prompt a decoder LM (task: text-generation) as verification prompted it; the LLM build
writes it to ``out/device/`` as the classifier build does (``api/device_assets``).

    preprocessing.json  kind ``chat``: the spec's user-turn format (``{text}``), and the model's chat template
                        rendered around one user turn as two plain strings, ``prefix`` and ``suffix`` (system turn
                        included), so a board builds the exact prompt text without transformers or jinja; the
                        generation length and the labels
    golden.json         the first ``LM_GOLDEN`` evaluation texts and the prompt token ids the build verified them
                        with (``edgeconv bundle`` records each artifact's greedy tokens for them)

Written at build time because only the build holds the tokenizer the reference and every artifact were verified
with. A template that rewrites the user's text (trimming, escaping) cannot be split into prefix and suffix: the
recipe then says why (``split_error``) and a bundle refuses to make run.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeconv.api.device_assets import ASSETS, GOLDEN_RAW, PREPROCESSING
from edgeconv.api.generative_data import records
from edgeconv.fsutil import atomic_path
from edgeconv.spec import Spec
from edgeconv.verify.lm_measure import LMEvaluation

LM_GOLDEN = 3  # prompts: each replays a whole greedy generation on the board, so few
_MARK = "\u2063EDGECONV-USER-TURN\u2063"  # a user turn no template rewrites or could contain by chance


def write_lm_device_assets(spec: Spec, tokenizer: Any, evaluation: LMEvaluation, out: Path) -> Path:
    """Write ``out/device/`` for a decoder LM (replacing an older one whole); returns its path."""
    from edgeconv.models.causal_lm import chat_prompt

    gen = spec.generation
    assert gen is not None
    texts = [str(r[spec.evaluation.text_field]) for r in records(spec)][:LM_GOLDEN]
    recipe: dict[str, Any] = {
        "kind": "chat", "task": spec.model.task, "labels": evaluation.labels or None, "prompt": gen.prompt,
        "system": gen.system, "chat_template": gen.chat_template, "new_tokens": gen.new_tokens,
        "answer_tokens": gen.answer_tokens, "context_length": gen.context_length, "prefix": "", "suffix": "",
        "split_error": None,
    }
    if gen.chat_template:
        whole = chat_prompt(tokenizer, _MARK, gen.system)
        if whole.count(_MARK) == 1:
            recipe["prefix"], recipe["suffix"] = whole.split(_MARK)
        for text in texts:  # the split must give back exactly what verification prompted with
            user = gen.prompt.format(text=text)
            if recipe["prefix"] + user + recipe["suffix"] != chat_prompt(tokenizer, user, gen.system):
                recipe["split_error"] = ("the model's chat template changes the user's text, so the prompt cannot "
                                         "be rebuilt without jinja and transformers")
                break
    target = Path(out) / ASSETS
    with atomic_path(target, folder=True) as tmp:
        (tmp / PREPROCESSING).write_text(json.dumps(recipe, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        golden = {"count": len(texts), "raw": texts, "prompt_ids": [list(map(int, p)) for p in
                                                                     evaluation.prompts[: len(texts)]]}
        (tmp / GOLDEN_RAW).write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
