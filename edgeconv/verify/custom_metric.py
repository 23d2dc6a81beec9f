"""A task metric the user writes: ``evaluation.metric: package.module:function``, with ``trust_code: true``.

For what no built-in metric covers (keypoints, CTC text, retrieval by embeddings). The function is
called as ``function(outputs, reference, labels)``: the artifact's outputs and the fp32 reference's
outputs (dicts of output name to array, one row per example) and the labels (an int64 array, or
None for an unlabelled set); it returns a float where higher is better. It is the user's code, so
it runs only when the spec opts in, like ``trust_remote_code``; the spec's folder is importable.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.errors import SpecError, StageError

BUILT_IN = ("accuracy", "macro_f1")
Metric = Callable[[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray | None], float]


def is_custom(metric: str) -> bool:
    return metric not in BUILT_IN


def load_metric(reference: str, folder: Path | None) -> Metric:
    """Import ``module:function`` (the spec's folder first on the path); SpecError when it cannot."""
    module_name, _, function = reference.partition(":")
    added = folder is not None and str(folder) not in sys.path
    if added:
        sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error of the user's module is a spec problem to fix
        raise SpecError(f"evaluation.metric '{reference}': cannot import '{module_name}' "
                        f"({type(exc).__name__}: {exc})", fix="put the module beside the spec or install it") from exc
    finally:
        if added:
            sys.path.remove(str(folder))
    fn = getattr(module, function, None)
    if not callable(fn):
        raise SpecError(f"evaluation.metric '{reference}': '{module_name}' has no function '{function}'",
                        fix="name a function taking (outputs, reference, labels) and returning a float")
    return fn


def evaluate(fn: Metric, outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray],
             labels: np.ndarray | None, name: str) -> float:
    """The metric's value; a raise or a non-number is a StageError naming the metric."""
    try:
        value: Any = fn(outputs, reference, labels)
    except Exception as exc:
        raise StageError(f"evaluation.metric '{name}' raised {type(exc).__name__}: {exc}",
                         fix="fix the metric function (it receives dicts of output arrays and the labels)") from exc
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise StageError(f"evaluation.metric '{name}' returned {type(value).__name__}, not a number") from exc
    if not math.isfinite(number):
        raise StageError(f"evaluation.metric '{name}' returned {number}")
    return number
