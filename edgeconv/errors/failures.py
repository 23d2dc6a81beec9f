"""Crash containment: an unexpected exception inside a stage becomes one readable line and a log file.

ONNX Runtime, onnx, torch and the TFLite converters raise their own exception types with long,
multi-line messages. The user sees one line: the stage, the library that raised, its own first
message line, the node/op when the message names one, a fix where the cause is known, and the path
of a log under ``out/logs/`` holding the full traceback. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from edgeconv.errors import EdgeconvError, RuntimeUnavailable, SpecError, StageError
from edgeconv.fsutil import write_text

LOG_FOLDER = "logs"
MAX_MESSAGE = 300

# ONNX Runtime and onnx name the failing node in one of these shapes.
_NODE_PATTERNS = (
    re.compile(r"Node \((?P<node>[^)]*)\) Op \((?P<op>[^)]*)\)"),  # ORT: Node (name) Op (type) ...
    re.compile(r"In Node, \(\"(?P<node>[^\"]*)\", (?P<op>\w+),"),  # ORT model check: In Node, ("n", Op, ...
    re.compile(r"[Nn]ode name: (?P<node>\S+?),? .*?op_type: (?P<op>\w+)"),
    re.compile(r"for operator (?P<op>\w+)"),  # onnx checker: Unrecognized attribute: axis for operator X
    re.compile(r"op_type[=:] ?'?(?P<op>\w+)'?"),
)

# Messages whose cause is known, with the fix to print.
_KNOWN_FIXES = (
    (re.compile(r"Unrecognized attribute: axis for operator (Dequantize|Quantize)Linear"),
     "per-channel int8 needs opset 13 or newer: set quantize.static.per_channel: false, or re-export with opset >= 13"),
    (re.compile(r"NOT_IMPLEMENTED.*Could not find an implementation", re.S),
     "this runtime has no kernel for that op at this precision: exclude the node from quantization "
     "(quantize.static.exclude_nodes or quantize.dynamic.exclude_nodes) or build another precision"),
    (re.compile(r"div\.cc:\d+ data\[i\] != zero_point"),
     "an int8 Div got a divisor that quantized to zero (a normalisation's denominator): LiteRT refuses it; "
     "build int8-dynamic for this model, or an ONNX Runtime int8-static artifact"),
    (re.compile(r"MemoryError|std::bad_alloc|Killed|out of memory", re.I),
     "the machine ran out of memory: lower calibration.count or latency.batch_size, or build on a larger machine"),
)


def log_path(out: Path, stage: str) -> Path:
    """Where the traceback of a failed ``stage`` goes: ``out/logs/<stage>.log``."""
    return Path(out) / LOG_FOLDER / (re.sub(r"[^A-Za-z0-9._-]+", "-", stage).strip("-") + ".log")


def one_line(exc: BaseException) -> str:
    """The exception's message as one line: first non-empty lines joined, capped at MAX_MESSAGE characters."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def node_of(message: str) -> str | None:
    """The node and/or op a library message names, e.g. "node 'conv1' (Conv)"; None when it names none."""
    for pattern in _NODE_PATTERNS:
        match = pattern.search(message)
        if match:
            found = match.groupdict()
            node, op = found.get("node"), found.get("op")
            if node and op:
                return f"node '{node}' ({op})"
            return f"op {op}" if op else f"node '{node}'"
    return None


def library_of(exc: BaseException) -> str:
    """The installed package whose code raised ``exc`` (the innermost frame's), else 'edgeconv'."""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        match = re.search(r"(?:site|dist)-packages/([A-Za-z0-9_]+)", frames[-1].filename)
        return match.group(1) if match else "edgeconv"
    module = type(exc).__module__.split(".")[0]
    return module if module not in ("builtins", "edgeconv") else "edgeconv"


def known_fix(message: str) -> str | None:
    for pattern, fix in _KNOWN_FIXES:
        if pattern.search(message):
            return fix
    return None


def write_log(out: Path, stage: str, exc: BaseException, details: str | None = None) -> Path:
    """Write the traceback (and any captured output, e.g. a worker's stderr) to the stage's log file."""
    path = log_path(out, stage)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if details:
        text += "\n--- captured output ---\n" + details
    write_text(path, text)
    return path


def contain(stage: str, exc: BaseException, out: Path) -> StageError:
    """The StageError to report for ``exc`` raised in ``stage``; its line ends with the log's path.

    An EdgeconvError keeps its own message (it is already readable); anything else is described
    by library, message and node.
    """
    details = getattr(exc, "details", None)
    log = write_log(out, stage, exc, details)
    if isinstance(exc, EdgeconvError):
        message, fix = exc.message, exc.fix
    else:
        message = f"{stage} failed in {library_of(exc)}: {type(exc).__name__}: {one_line(exc)}"
        where = node_of(str(exc))
        if where:
            message += f" [{where}]"
        fix = known_fix(str(exc))
    where_log = f"traceback in {log}"
    error = StageError(message, fix=f"{fix}; {where_log}" if fix else where_log)
    error.log = log  # type: ignore[attr-defined]
    return error


def contained(stage: str, exc: BaseException, out: Path) -> StageError:
    """``exc`` as the one-line StageError of an artifact row, its log written (one already logged is kept): the
    one rule of containment, so a failure costs its own row and the other artifacts and the reports survive.

    A SpecError or RuntimeUnavailable is re-raised instead: the user's to fix, it stops the build (exit 2 or 3)
    rather than becoming a row. Call it from ``except Exception as exc:``.
    """
    if isinstance(exc, SpecError | RuntimeUnavailable):
        raise exc
    if isinstance(exc, StageError) and getattr(exc, "log", None):
        return exc
    return contain(stage, exc, out)
