"""What a decoder-LM build (task: text-generation) checks before any expensive stage: bad input is one line and
exit 2 in seconds, with nothing written to the output folder.

Two moments. ``preflight`` runs before any stage and reads only files' headers: the model path's kind (a GGUF
file's architecture from its header, a folder's config and tokenizer files), the adapter folder, the evaluation
records and the label words, the calibration records, and that a target whose recipe calibrates (NNCF AWQ /
scale estimation, ModelOpt AWQ) has calibration texts. ``before_weights`` runs inside stage ``reference`` when it
is not cached, once the tokenizer and config are read and before the weights are (a GGUF file's dequantization
takes ~20 s): every prompt within ``context_length``, every label word within ``answer_tokens``, the adapter's
modules and shapes against the base model. A cached reference skips it; ``lm_evaluation`` then re-checks the
prompts from the saved folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeconv.api.generative_data import prompt_ids, records
from edgeconv.backends import get_backend
from edgeconv.errors import SpecError
from edgeconv.models.causal_lm import TOKENIZER_FIX
from edgeconv.models.load import TOKENIZER_FILES
from edgeconv.spec import Spec
from edgeconv.spec.source import resolve_model_path, sniff
from edgeconv.spec.targets import TargetProfile

_WORD = re.compile(r"[a-z0-9_\-]+")  # verify/language.answer_label reads an answer's words with this pattern


def preflight(spec: Spec, selected: list[tuple[TargetProfile, list[str]]]) -> None:
    """Every check that needs no tokenizer: a SpecError (exit 2) for the first thing wrong. The model comes last:
    a GGUF file's architecture is judged against transformers' table, whose import takes seconds."""
    _check_calibration(spec, selected)
    if spec.model.adapter:
        adapter = Path(spec.model.adapter)
        if not adapter.is_dir():
            raise SpecError(f"model.adapter '{spec.model.adapter}' is not a folder",
                            fix="point it at the folder PeftModel.save_pretrained wrote, or remove model.adapter")
        if not (adapter / "adapter_config.json").is_file():
            raise SpecError(f"model.adapter '{adapter.name}' is not a PEFT adapter folder (no adapter_config.json)",
                            fix="point it at the folder PeftModel.save_pretrained wrote")
    _check_labels(spec, records(spec))
    _check_model(spec.model.path)


def _check_calibration(spec: Spec, selected: list[tuple[TargetProfile, list[str]]]) -> None:
    """Every (target, precision)'s recipe (asking whether it calibrates checks it: a refused one is one line),
    calibration records that read, and calibration texts wherever a recipe needs them."""
    for profile, precisions in selected:
        backend = get_backend(profile.backend)
        needs = getattr(backend, "needs_calibration", None)
        wanting = [p for p in precisions if needs is not None and needs(profile, p)]
        if wanting and spec.calibration is None:
            raise SpecError(f"{wanting[0]} on target '{profile.name}' calibrates on texts (its recipe is data-aware: "
                            "AWQ / scale estimation / GPTQ), and the spec has no calibration section",
                            fix="add calibration: {path: a .jsonl file of texts, text_field: text, count: 16}, or "
                            "drop the data-aware settings from the target's quantize")
    if spec.calibration is not None:
        records(spec, spec.calibration)  # a missing, empty or malformed file: one line


def _check_model(path: str) -> None:
    from edgeconv.models.gguf import check_gguf

    local = Path(resolve_model_path(path)).expanduser()
    kind = sniff(str(local))  # by content: a SpecError for a file that is no model at all
    if kind is None:
        raise SpecError(f"model.path '{path}' not found", fix="give a Hugging Face folder or a .gguf file")
    if kind == "gguf":
        check_gguf(local)  # the architecture, from the header
    elif kind != "hf":
        raise SpecError(f"model.path '{local.name}' is an {kind} file, which task text-generation cannot build",
                        fix="give a decoder LM as a Hugging Face folder or a .gguf file")
    elif not (local / "config.json").is_file():
        raise SpecError(f"model folder '{path}' has no config.json", fix="point model.path at a Hugging Face model "
                        "folder")
    elif not any((local / name).is_file() for name in TOKENIZER_FILES):
        raise SpecError(f"model folder '{path}' has no tokenizer files ({', '.join(TOKENIZER_FILES)})",
                        fix=TOKENIZER_FIX)


def _check_labels(spec: Spec, rows: list[dict[str, Any]]) -> None:
    """Labels an answer can name: one word each (answer_label reads words) and every gold label among them."""
    field = spec.evaluation.label_field
    gold = sorted({str(r[field]) for r in rows if field in r}) if field else []
    labels = spec.model.labels or gold
    for label in labels:
        if not _WORD.fullmatch(label.lower()):
            raise SpecError(f"label '{label}' is not one word of letters, digits, '_' or '-', so no answer can "
                            "be parsed to it", fix="name each label with one such word in model.labels (and in "
                            "the evaluation records)")
    unknown = [g for g in gold if g.lower() not in {label.lower() for label in labels}]
    if unknown:
        raise SpecError(f"evaluation labels {unknown} are not in model.labels {labels}: no answer can be parsed "
                        "to them", fix="add them to model.labels, or fix evaluation.label_field")


def before_weights(spec: Spec) -> Callable[[Any, Any], None]:
    """The checks that need the source's tokenizer and config, for ``reference_folder``."""

    def check(tokenizer: Any, config: Any) -> None:
        gen = spec.generation
        assert gen is not None
        rows = records(spec)
        prompt_ids(spec, tokenizer, rows)  # SpecError for a prompt beyond context_length
        field = spec.evaluation.label_field
        gold = {str(r[field]) for r in rows if field in r} if field else set()
        for label in sorted(set(spec.model.labels or []) | gold):
            needed = len(tokenizer(label, add_special_tokens=False).input_ids)
            if needed > gen.answer_tokens:
                raise SpecError(f"label '{label}' is {needed} tokens, more than generation.answer_tokens "
                                f"{gen.answer_tokens}: no answer could name it",
                                fix=f"raise generation.answer_tokens to at least {needed}")
        if spec.model.adapter:
            from edgeconv.models.lora_check import check_adapter

            check_adapter(Path(spec.model.adapter), config)

    return check
