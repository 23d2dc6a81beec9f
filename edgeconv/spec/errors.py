"""Turn pydantic's validation errors into one line that names the field and the fix."""

from __future__ import annotations

import difflib
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError


def _submodel(model: type[BaseModel], field: str) -> type[BaseModel] | None:
    """The pydantic model a field holds (directly, in a list, or in an Optional)."""
    info = model.model_fields.get(field)
    if info is None:
        return None
    stack: list[Any] = [info.annotation]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
        if get_origin(tp) is not None or get_args(tp):
            stack.extend(get_args(tp))
    return None


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        model = _submodel(model, part)
    return model


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def describe_validation_error(exc: ValidationError, root: type[BaseModel], filename: str) -> str:
    """The first error, as 'file: field: problem (fix: ...)'; the count of others is appended."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    field = _dotted(loc) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        valid = sorted(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(valid)}"
        message = f"{filename}: unknown key '{field}' ({hint})"
    elif kind == "missing":
        message = f"{filename}: '{field}' is required (fix: add it to the spec)"
    elif kind in {"literal_error", "enum"}:
        expected = first.get("ctx", {}).get("expected", "")
        message = f"{filename}: {field} = {first.get('input')!r} is not allowed (fix: use one of {expected})"
    else:
        msg = first["msg"].removeprefix("Value error, ")
        message = f"{filename}: {field}: {msg}" if field != "(top level)" else f"{filename}: {msg}"
    if len(errors) > 1:
        message += f" [and {len(errors) - 1} more]"
    return message
