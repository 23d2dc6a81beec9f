"""bench/fastest.py's verdicts: unpruned `auto` is held against the fastest peer at real length (a pruned row,
however fast, is not in that ratio), pruned `auto` against the reference at padded length."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_fastest() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # fastest.py imports its sibling common.py
    try:
        spec = importlib.util.spec_from_file_location("bench_fastest", BENCH / "fastest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_verdicts_keep_pruned_rows_out_of_the_peer_ratio(tmp_path: Path) -> None:
    fastest = load_fastest()
    real_ms = {fastest.REFERENCE: 10.0, "peer: slow": 6.0, "peer: fast": 4.0, "edgeconv t int8 ★ auto": 3.0,
               "edgeconv t@prune-b2 int8 ★ auto": 1.0}
    padded_ms = {label: 2 * ms for label, ms in real_ms.items()}
    rows = {}
    for i, label in enumerate(real_ms):
        path = tmp_path / f"{i}.onnx"
        path.write_bytes(bytes([i]))
        rows[label] = ("onnxruntime", path, {})
    index = {label: i for i, label in enumerate(real_ms)}
    real = SimpleNamespace(samples={index[k]: [[v / 1e3]] * 6 for k, v in real_ms.items()})
    padded = SimpleNamespace(samples={index[k]: [[v / 1e3]] * 6 for k, v in padded_ms.items()})
    scores = {label: {"accuracy": 0.9, "agreement": 1.0} for label in real_ms}
    lines = fastest.verdicts({"p50": real_ms, "p50_padded": padded_ms, "scores": scores, "real": real,
                              "padded": padded, "index": index, "rows": rows})
    unpruned = next(line for line in lines if line.startswith("auto:"))
    assert "vs the fastest peer (peer: fast, 4.00 ms): 0.75x" in unpruned
    pruned = next(line for line in lines if line.startswith("auto with pruning:"))
    assert "at padded length 2.00 ms" in pruned and "(20.00 ms): 0.10x" in pruned
    assert len(lines) == 2  # auto is also the best unpruned row: no second unpruned line
