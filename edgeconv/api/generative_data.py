"""The fp32 reference of a decoder LM (task: text-generation) as a cached stage, and the spec's evaluation texts as
token ids: what ``api/generative`` builds and verifies every artifact from.

The reference stage dequantizes / merges once (a GGUF file takes ~20 s, a LoRA merge seconds) and saves a plain
Hugging Face folder, the input of every converter; its key is the content of the model and adapter, never their
paths. A prompt that does not fit ``generation.context_length`` fails here, in one line, before any artifact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.cache.stages import Stages
from edgeconv.errors import SpecError
from edgeconv.fsutil import sha256_file, sha256_tree
from edgeconv.spec import Spec
from edgeconv.spec.source import resolve_model_path
from edgeconv.verify.lm_measure import LMEvaluation


def _digest(path: str) -> str:
    local = Path(path)
    return sha256_tree(local) if local.is_dir() else sha256_file(local)


def reference_folder(spec: Spec, stages: Stages) -> tuple[Path, str]:
    """(the merged fp32 Hugging Face folder, its content hash) through stage ``reference``."""
    local = resolve_model_path(spec.model.path)
    if not Path(local).exists():
        raise SpecError(f"model.path '{spec.model.path}' not found", fix="give a Hugging Face folder or a .gguf file")
    key: dict[str, Any] = {"model": _digest(local), "adapter": _digest(spec.model.adapter) if spec.model.adapter
                           else None, "trust_remote_code": spec.model.trust_remote_code,
                           **{lib: versions.of(lib) for lib in ("torch", "transformers", "peft", "gguf", "edgeconv")}}

    def produce(folder: Path) -> dict[str, Any]:
        from edgeconv.models.causal_lm import load_causal_lm, save_hf_folder

        lm = load_causal_lm(spec.model.path, adapter=spec.model.adapter,
                            trust_remote_code=spec.model.trust_remote_code)
        save_hf_folder(lm, folder / "hf")
        return {"sha256": sha256_tree(folder / "hf")}

    folder, meta = stages.run("reference", key, produce)
    return folder / "hf", meta["sha256"]


def records(spec: Spec) -> list[dict[str, Any]]:
    """The evaluation records (JSONL: one object per line), ``count`` at most."""
    ev = spec.evaluation
    if ev.format != "jsonl":
        raise SpecError(f"task text-generation reads its evaluation texts from JSONL, not {ev.format}",
                        fix="give evaluation.path a .jsonl file with a text field (and a label field)")
    if not ev.path.is_file():
        raise SpecError(f"evaluation.path '{ev.path}' not found")
    rows = [json.loads(line) for line in ev.path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[: ev.count] if ev.count else rows
    if not rows:
        raise SpecError(f"evaluation.path '{ev.path.name}' holds no record")
    missing = next((i for i, r in enumerate(rows) if ev.text_field not in r), None)
    if missing is not None:
        raise SpecError(f"evaluation record {missing} has no '{ev.text_field}' field",
                        fix="set evaluation.text_field to the field that holds the text")
    return rows


def lm_evaluation(spec: Spec, lm: Any) -> LMEvaluation:
    """The evaluation texts as the reference's token ids; SpecError (exit 2) for a prompt beyond the context."""
    from edgeconv.models.causal_lm import chat_prompt, stop_token_ids

    gen, ev, tok = spec.generation, spec.evaluation, lm.tokenizer
    assert gen is not None
    rows = records(spec)
    stops = [*stop_token_ids(lm), *(tok.convert_tokens_to_ids(t) for t in gen.stop_tokens)]
    labelled = ev.label_field is not None and all(ev.label_field in r for r in rows)
    prompts, sequences, scored = [], [], []
    for i, row in enumerate(rows):
        user = gen.prompt.format(text=row[ev.text_field])
        text = chat_prompt(tok, user, gen.system) if gen.chat_template else user
        ids = tok(text, add_special_tokens=False).input_ids
        if len(ids) + gen.answer_tokens > gen.context_length:
            raise SpecError(f"evaluation record {i}: its prompt is {len(ids)} tokens, and with "
                            f"{gen.answer_tokens} answer tokens it exceeds generation.context_length "
                            f"{gen.context_length}", fix="shorten the text or raise generation.context_length")
        answer = [*tok(str(row[ev.label_field]), add_special_tokens=False).input_ids, stops[0]] if labelled else []
        prompts.append(ids)
        sequences.append(ids + answer)
        scored.append(len(ids) if answer else 1)
    truth = [str(r[ev.label_field]) for r in rows] if labelled else None
    labels = spec.model.labels or sorted(set(truth or []))
    return LMEvaluation(prompts=prompts, sequences=sequences,
                        scored_from=scored if gen.score_answers_only else None, truth=truth, labels=labels,
                        stops=set(stops), answer_tokens=gen.answer_tokens, decode=tok.decode)
