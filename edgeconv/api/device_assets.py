"""What a board needs to feed an artifact as verification fed it; every build writes it to ``out/device/``.

    preprocessing.json  the task, labels, inputs, each output's tolerances (the spec's atol, rtol and
                        max_mismatch, which run.py --check holds the golden outputs to), and how raw input becomes
                        the inputs: ``text`` (the tokenizer file below, max length, padding, truncation, pad
                        token), ``image`` (the spec's explicit preprocessing, run by ``edgeconv.data.pixels``) or
                        ``feeds`` (.npz only, with why)
    tokenizer.json      text models: the tokenizer in the format of the ``tokenizers`` library, which is what
                        transformers' fast tokenizers run, so the board needs neither transformers nor torch
    golden.json         the first ``GOLDEN`` evaluation examples' raw input: texts, or image files copied beside

A bundle adds the golden examples' feeds (``data/eval.npz``) and its artifact's verified outputs for them
(``verify/<artifact>/outputs.npz``). Written here, at build time, because only the build holds the loaded
tokenizer and the raw examples in the order their feeds were made.
"""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

from edgeconv.api.prepare import Prepared
from edgeconv.fsutil import atomic_path
from edgeconv.spec import Spec
from edgeconv.verify.budgets import tolerances

ASSETS = "device"
PREPROCESSING, TOKENIZER, GOLDEN_RAW = "preprocessing.json", "tokenizer.json", "golden.json"
GOLDEN = 16  # examples: enough to catch a tokenizer or resize that drifts, small next to the artifact
GOLDEN_IMAGES = 8  # image files are copied whole, so fewer


def write_device_assets(spec: Spec, prepared: Prepared, out: Path) -> Path:
    """Write ``out/device/`` (replacing an older one whole, never leaving half of one); returns its path."""
    target = Path(out) / ASSETS
    with atomic_path(target) as tmp:
        tmp.mkdir()
        recipe = preprocessing(spec, prepared, tmp)
        raw = (prepared.evaluation.raw or [])[: GOLDEN_IMAGES if recipe["kind"] == "image" else GOLDEN]
        if recipe["kind"] == "image":
            (tmp / "golden").mkdir()
            copies = []
            for i, path in enumerate(raw):
                copy = f"golden/{i:02d}{Path(path).suffix.lower()}"
                shutil.copyfile(path, tmp / copy)
                copies.append(copy)
            raw = copies
        count = min(len(prepared.evaluation), GOLDEN_IMAGES if recipe["kind"] == "image" else GOLDEN)
        (tmp / PREPROCESSING).write_text(json.dumps(recipe, indent=2) + "\n")
        (tmp / GOLDEN_RAW).write_text(json.dumps({"count": count, "raw": raw if recipe["kind"] != "feeds" else []},
                                                 indent=2, ensure_ascii=False) + "\n")
    return target


def preprocessing(spec: Spec, prepared: Prepared, folder: Path) -> dict[str, Any]:
    """The recipe of ``preprocessing.json``; writes the tokenizer file into ``folder`` when there is one."""
    ev = spec.evaluation
    recipe: dict[str, Any] = {
        "task": spec.model.task, "labels": prepared.io.labels,
        "inputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in prepared.io.inputs],
        "unbatched": sorted(prepared.evaluation.unbatched),
        "tolerances": {name: {"atol": atol, "rtol": rtol,
                              "max_mismatch": spec.budgets.for_output(name).max_mismatch or 0.0}
                       for name, (atol, rtol) in tolerances(spec.budgets, prepared.io.output_names).items()},
    }
    processor = prepared.io.preprocessor
    if ev.format in ("jsonl", "csv"):
        backend = getattr(processor, "backend_tokenizer", None)
        if backend is None:
            return {**recipe, "kind": "feeds", "why": "the tokenizer has no fast form (the tokenizers library's "
                    "tokenizer.json) to run without transformers: give run.py .npz feeds"}
        backend.save(str(folder / TOKENIZER))
        text = spec.text_for(ev)
        return {**recipe, "kind": "text", "tokenizer": TOKENIZER, "tokenizers_version": version("tokenizers"),
                "max_length": text.max_length, "padding": text.padding, "truncation": text.truncation,
                "pad_token": processor.pad_token, "pad_id": processor.pad_token_id,
                "pad_type_id": processor.pad_token_type_id, "padding_side": processor.padding_side,
                "truncation_side": processor.truncation_side, "pair": ev.text_pair_field is not None}
    if ev.format == "images":
        image = spec.image_for(ev)
        if image is None:
            return {**recipe, "kind": "feeds", "why": "the model's image processor (transformers) does not run "
                    "without transformers: set model.image to the explicit preprocessing, or give run.py .npz feeds"}
        return {**recipe, "kind": "image", "image": image.model_dump(mode="json"), "pillow_version": version("pillow")}
    return {**recipe, "kind": "feeds", "why": f"the evaluation set is {ev.format} feeds, not raw input"}
