"""Does a PEFT (LoRA) adapter fit its base model? Told from the adapter's files and the base's config alone.

PEFT finds a wrong target module or a wrong shape only while it loads the adapter into the real model, after a
GGUF file's dequantization (~20 s) and with a size-mismatch traceback. The same comparison is made here from the
adapter's safetensors header (shapes, no tensor read) and the base model built on torch's meta device (modules and
shapes, no weight allocated), so a build refuses a mismatched adapter in seconds, with one line. Written by hand
because PEFT has no check that does not load weights; it follows PEFT's naming (``base_model.model.`` +
module name + ``.lora_A.weight`` / ``.lora_B.weight``, LoRA A of shape [r, in], B of shape [out, r]).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeconv.errors import SpecError

_PREFIX = "base_model.model."
_FIX = "use the adapter trained on this base model (adapter_config.json's base_model_name_or_path), or that base"


def _base_modules(config: Any) -> dict[str, tuple[int, int] | None]:
    """Every module name of the base → (in_features, out_features) for a linear layer, else None."""
    import torch
    import transformers

    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    return {name: (m.in_features, m.out_features) if isinstance(m, torch.nn.Linear) else None
            for name, m in model.named_modules() if name}


def _adapter_shapes(weights: Path) -> dict[str, list[int]]:
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        return {key: list(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118 (not a dict)


def _targets_found(targets: Any, modules: dict[str, Any]) -> bool:
    """PEFT's rule: a list names modules by their last parts; a string is a regular expression on the full name."""
    import re

    if isinstance(targets, str):
        return targets == "all-linear" or any(re.fullmatch(targets, name) for name in modules)
    if not targets:
        return True
    return any(name == t or name.endswith(f".{t}") for name in modules for t in targets)


def check_adapter(adapter: Path, config: Any) -> None:
    """SpecError (exit 2) naming the first way ``adapter`` does not fit a base with ``config``."""
    adapter = Path(adapter)
    settings_file = adapter / "adapter_config.json"
    if not settings_file.is_file():
        raise SpecError(f"model.adapter '{adapter}' is not a PEFT adapter folder (no adapter_config.json)",
                        fix="point it at the folder PeftModel.save_pretrained wrote")
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    modules = _base_modules(config)
    base = settings.get("base_model_name_or_path") or "another model"
    if not _targets_found(settings.get("target_modules"), modules):
        raise SpecError(f"model.adapter '{adapter.name}' targets modules {settings.get('target_modules')} that the "
                        f"base model ({config.model_type}) does not have (it was trained on {base})", fix=_FIX)
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():  # a pickled adapter_model.bin: shapes cannot be read without unpickling it
        return
    for key, shape in _adapter_shapes(weights).items():
        name, _, part = key.removeprefix(_PREFIX).rpartition(".lora_")
        if not name:  # modules_to_save and other non-LoRA tensors: PEFT loads them by name
            continue
        if name not in modules:
            raise SpecError(f"model.adapter '{adapter.name}' has weights for '{name}', which the base model "
                            f"({config.model_type}) does not have (it was trained on {base})", fix=_FIX)
        linear = modules[name]
        if linear is None or len(shape) != 2:
            continue
        want = linear[0] if part.startswith("A.") else linear[1] if part.startswith("B.") else None
        got = shape[1] if part.startswith("A.") else shape[0]
        if want is not None and got != want:
            raise SpecError(f"model.adapter '{adapter.name}': '{name}' is {got} wide in the adapter but {want} in "
                            f"the base model ({config.model_type}; the adapter was trained on {base})", fix=_FIX)
