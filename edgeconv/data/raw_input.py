"""Raw input (a text, a text pair, an image) into a model's feeds by a build's preprocessing recipe
(``out/device/preprocessing.json``, edgeconv.api.device_assets): what a bundle's run.py and ``edgeconv serve`` do
with what a user sends.

Imports only numpy, the ``tokenizers`` library, Pillow and ``edgeconv.data.pixels``, never the rest of edgeconv:
bundles ship this file to the board. Text goes through the tokenizer file transformers' fast tokenizer ran in
the build, with the truncation and padding transformers set on it; images through the same pixel code that
verification ran.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np


class RawInputError(ValueError):
    """Input the recipe cannot take (an unreadable image, text for a model that takes feeds)."""


def text_feeds(recipe: dict[str, Any], folder: Path, raw: str | list[str]) -> dict[str, np.ndarray]:
    """One text (or [text, pair]) as batch-1 feeds; ``recipe["tokenizer"]`` is relative to ``folder``."""
    if recipe["kind"] != "text":
        raise RawInputError(f"this model does not take text: {recipe.get('why') or 'it takes ' + recipe['kind']}")
    tokenizer = load_tokenizer(str(Path(folder) / recipe["tokenizer"]), json.dumps(recipe, sort_keys=True))
    encoding = tokenizer.encode(*raw) if isinstance(raw, list) else tokenizer.encode(raw)
    fields = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask, "token_type_ids": encoding.type_ids}
    return {i["name"]: np.asarray([fields[i["name"]]], dtype=i["dtype"])
            for i in recipe["inputs"] if i["name"] in fields}


@functools.lru_cache(maxsize=4)
def load_tokenizer(file: str, recipe_json: str) -> Any:
    """The tokenizer with the truncation and padding transformers set on it before every call it made."""
    from tokenizers import Tokenizer

    recipe = json.loads(recipe_json)
    tokenizer = Tokenizer.from_file(file)
    if recipe["truncation"]:
        tokenizer.enable_truncation(recipe["max_length"], direction=recipe["truncation_side"])
    else:
        tokenizer.no_truncation()
    tokenizer.enable_padding(
        direction=recipe["padding_side"], pad_id=recipe["pad_id"], pad_type_id=recipe["pad_type_id"],
        pad_token=recipe["pad_token"], length=recipe["max_length"] if recipe["padding"] == "max_length" else None)
    return tokenizer


def image_feeds(recipe: dict[str, Any], image: Path | Any) -> dict[str, np.ndarray]:
    """One image (a path or a binary file object) as batch-1 feeds, in the model's layout and dtype."""
    from PIL import Image, UnidentifiedImageError

    from edgeconv.data.pixels import preprocess_image

    if recipe["kind"] != "image":
        raise RawInputError(f"this model does not take images: {recipe.get('why') or 'it takes ' + recipe['kind']}")
    p = SimpleNamespace(**recipe["image"])
    try:
        with Image.open(image) as opened:
            rgb = opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise RawInputError(f"'{getattr(image, 'name', image)}' is not a readable image ({exc})") from exc
    return {recipe["inputs"][0]["name"]: preprocess_image(rgb, p).astype(p.dtype)[None]}
