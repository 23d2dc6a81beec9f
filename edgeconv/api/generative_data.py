"""The fp32 reference of a decoder LM (task: text-generation) as a cached stage, and the spec's evaluation and
calibration texts as token ids: what ``api/generative`` builds, calibrates and verifies every artifact from.

The reference stage dequantizes / merges once (a GGUF file takes ~20 s, a LoRA merge seconds) and saves a plain
Hugging Face folder, the input of every converter; its key is the content of the model and adapter, never their
paths. A prompt that does not fit ``generation.context_length`` fails here, in one line, before any artifact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeconv import versions
from edgeconv.backends.decoder_lm import LMCalibration
from edgeconv.cache.stages import Stages
from edgeconv.errors import SpecError
from edgeconv.fsutil import sha256_file, sha256_json, sha256_tree
from edgeconv.spec import Spec
from edgeconv.spec.data import DatasetSpec
from edgeconv.spec.source import resolve_model_path
from edgeconv.verify.lm_measure import LMEvaluation


def _digest(path: str) -> str:
    local = Path(path)
    return sha256_tree(local) if local.is_dir() else sha256_file(local)


def reference_folder(spec: Spec, stages: Stages,
                     before_weights: Callable[[Any, Any], None] | None = None) -> tuple[Path, str]:
    """(the merged fp32 Hugging Face folder, its content hash) through stage ``reference``; when the stage runs,
    ``before_weights(tokenizer, config)`` checks the inputs before the weights are loaded (a GGUF file's
    dequantization takes ~20 s)."""
    local = resolve_model_path(spec.model.path)
    if not Path(local).exists():
        raise SpecError(f"model.path '{spec.model.path}' not found", fix="give a Hugging Face folder or a .gguf file")
    key: dict[str, Any] = {"model": _digest(local), "adapter": _digest(spec.model.adapter) if spec.model.adapter
                           else None, "trust_remote_code": spec.model.trust_remote_code,
                           **{lib: versions.of(lib) for lib in ("torch", "transformers", "peft", "gguf", "edgeconv")}}

    def produce(folder: Path) -> dict[str, Any]:
        from edgeconv.models.causal_lm import load_causal_lm, load_tokenizer_and_config, save_hf_folder

        tokenizer, config = load_tokenizer_and_config(spec.model.path, spec.model.trust_remote_code)
        if before_weights is not None:
            before_weights(tokenizer, config)
        lm = load_causal_lm(spec.model.path, adapter=spec.model.adapter,
                            trust_remote_code=spec.model.trust_remote_code, tokenizer=tokenizer)
        save_hf_folder(lm, folder / "hf")
        return {"sha256": sha256_tree(folder / "hf")}

    folder, meta = stages.run("reference", key, produce)
    return folder / "hf", meta["sha256"]


def records(spec: Spec, dataset: DatasetSpec | None = None) -> list[dict[str, Any]]:
    """The records of ``dataset`` (the evaluation set unless given; JSONL: one object per line), ``count`` at
    most; SpecError (exit 2) for a missing, empty or malformed file."""
    ev = spec.evaluation if dataset is None else dataset
    section = "evaluation" if dataset is None else "calibration"
    if ev.format != "jsonl":
        raise SpecError(f"task text-generation reads its {section} texts from JSONL, not {ev.format}",
                        fix=f"give {section}.path a .jsonl file with a text field")
    if not ev.path.is_file():
        raise SpecError(f"{section}.path '{ev.path}' not found")
    rows = []
    for number, line in enumerate(ev.path.read_text(encoding="utf-8").splitlines(), 1):
        if ev.count and len(rows) == ev.count:
            break
        try:
            row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError as exc:
            raise SpecError(f"{section}.path '{ev.path.name}' line {number} is not JSON: {exc.msg}",
                            fix="write one JSON object per line (JSONL)") from exc
        if row is not None and not isinstance(row, dict):
            raise SpecError(f"{section}.path '{ev.path.name}' line {number} is not a JSON object",
                            fix="write one object per line, e.g. {\"text\": ..., \"label\": ...}")
        if row is not None:
            rows.append(row)
    if not rows:
        raise SpecError(f"{section}.path '{ev.path.name}' holds no record",
                        fix=f"give {section}.path a .jsonl file with at least one text")
    missing = next((i for i, r in enumerate(rows) if ev.text_field not in r), None)
    if missing is not None:
        raise SpecError(f"{section} record {missing} has no '{ev.text_field}' field",
                        fix=f"set {section}.text_field to the field that holds the text")
    return rows


def prompt_ids(spec: Spec, tokenizer: Any, rows: list[dict[str, Any]], dataset: DatasetSpec | None = None,
               ) -> list[list[int]]:
    """Each record's prompt as token ids; SpecError (exit 2) for a prompt that leaves no room for the answer
    within ``generation.context_length``."""
    ids_of = [tokenizer(text, add_special_tokens=False).input_ids for text in prompt_texts(spec, tokenizer, rows,
                                                                                           dataset)]
    gen = spec.generation
    assert gen is not None
    section = "evaluation" if dataset is None else "calibration"
    for i, ids in enumerate(ids_of):
        if len(ids) + gen.answer_tokens > gen.context_length:
            raise SpecError(f"{section} record {i}: its prompt is {len(ids)} tokens, and with "
                            f"{gen.answer_tokens} answer tokens it exceeds generation.context_length "
                            f"{gen.context_length}", fix="shorten the text or raise generation.context_length")
    return ids_of


def prompt_texts(spec: Spec, tokenizer: Any, rows: list[dict[str, Any]], dataset: DatasetSpec | None = None,
                 ) -> list[str]:
    """Each record as the prompt the model sees (chat template, system turn, ``prompt`` with {text}): the
    evaluation prompts and the calibration texts are formatted alike, so calibration sees what inference will."""
    from edgeconv.models.causal_lm import chat_prompt

    gen = spec.generation
    field = (spec.evaluation if dataset is None else dataset).text_field
    assert gen is not None
    users = [gen.prompt.format(text=row[field]) for row in rows]
    return [chat_prompt(tokenizer, user, gen.system) if gen.chat_template else user for user in users]


def lm_calibration(spec: Spec, tokenizer: Any) -> LMCalibration | None:
    """The spec's calibration texts as prompts and as the reference's token ids (None without a calibration
    section): what a data-aware recipe (NNCF AWQ / scale estimation, ModelOpt AWQ) calibrates on."""
    if spec.calibration is None:
        return None
    rows = records(spec, spec.calibration)
    texts = prompt_texts(spec, tokenizer, rows, spec.calibration)
    ids = prompt_ids(spec, tokenizer, rows, spec.calibration)
    return LMCalibration(texts=texts, ids=ids, sha256=sha256_json({"texts": texts, "ids": ids}),
                         path=str(spec.calibration.path))


def lm_evaluation(spec: Spec, lm: Any) -> LMEvaluation:
    """The evaluation texts as the reference's token ids; SpecError (exit 2) for a prompt beyond the context."""
    from edgeconv.models.causal_lm import stop_token_ids

    gen, ev, tok = spec.generation, spec.evaluation, lm.tokenizer
    assert gen is not None
    rows = records(spec)
    stops = [*stop_token_ids(lm), *(tok.convert_tokens_to_ids(t) for t in gen.stop_tokens)]
    labelled = ev.label_field is not None and all(ev.label_field in r for r in rows)
    prompts = prompt_ids(spec, tok, rows)
    sequences, scored = [], []
    for ids, row in zip(prompts, rows, strict=True):
        answer = [*tok(str(row[ev.label_field]), add_special_tokens=False).input_ids, stops[0]] if labelled else []
        sequences.append(ids + answer)
        scored.append(len(ids) if answer else 1)
    truth = [str(r[ev.label_field]) for r in rows] if labelled else None
    labels = spec.model.labels or sorted(set(truth or []))
    return LMEvaluation(prompts=prompts, sequences=sequences,
                        scored_from=scored if gen.score_answers_only else None, truth=truth, labels=labels,
                        stops=set(stops), answer_tokens=gen.answer_tokens, decode=tok.decode)
