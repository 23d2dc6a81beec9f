"""`edgeconv build` of the LLM sample (task: text-generation, issue 29) on ONNX Runtime GenAI, end to end.

One module-scoped fixture makes every build the tests read, in one stage cache of its own: the sample on 4
evaluation tweets (fp32 and int4; ~2 min on 2 busy cores, most of it dequantizing the GGUF reference), then the
same spec with a budget int4 cannot meet (the stages come back from the cache) and with a context too short for
the prompts. Speed is only checked for being positive and ordered; figures come from the bench.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeconv.cli import main
from tests.llm_shared import need_llm_packages

SPEC = Path(__file__).resolve().parents[1] / "samples" / "smollm2-sentiment" / "edgeconv.yaml"
SMALL = ["--set", "evaluation.count=4", "--set", "generation.new_tokens=6", "--set", "generation.timing_rounds=1",
         "--set", "targets.0.precisions=[fp32, int4]"]


def _build(out: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["build", str(SPEC), "--out", str(out), *SMALL, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    need_llm_packages()
    root = tmp_path_factory.mktemp("llm-build")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGECONV_CACHE_DIR", str(root / "cache"))
        made = {"main": (*_build(root / "main"), root / "main")}
        made["tight"] = (*_build(root / "tight", "--set", "budgets.max_perplexity_increase=0.001",
                                 "--set", "targets.0.precisions=[int4]"), root / "tight")
        made["long"] = (*_build(root / "long", "--set", "generation.context_length=40"), root / "long")
    return made


def test_the_sample_builds_every_artifact_with_its_generation_figures(builds: dict[str, Any]) -> None:
    code, out, err, folder = builds["main"]
    report = json.loads((folder / "report.json").read_text())
    assert report["evaluation"]["task"] == "text-generation"
    rows = {a["precision"]: a for a in report["artifacts"]}
    assert set(rows) == {"fp32", "int4"} and all(a["target"] == "x86-cpu-ort-genai" for a in rows.values())
    assert code == (0 if report["passed"] else 1), out + err
    for row in [report["reference"], *rows.values()]:
        g = row["generation"]
        for key in ("perplexity", "perplexity_change_pct", "kl_mean", "kl_p99", "token_agreement",
                    "greedy_agreement", "exact_match", "task_accuracy", "ttft_ms", "prefill_tokens_per_s",
                    "decode_tokens_per_s", "itl_p50_ms", "itl_p90_ms", "load_s"):
            assert g[key] is not None, (row["precision"], key)
        assert g["texts"] == 4 and g["tokens"] > 4 * 20
        assert 0 < g["itl_p50_ms"] <= g["itl_p90_ms"] and g["decode_tokens_per_s"] > 0 and g["ttft_ms"] > 0
        assert 0 <= g["task_accuracy"] <= 1 and row["size_bytes"] > 10e6
    fp32, int4 = rows["fp32"]["generation"], rows["int4"]["generation"]
    assert abs(fp32["perplexity_change_pct"]) < 0.1 and fp32["kl_mean"] < 1e-4 and fp32["token_agreement"] > 0.99
    assert int4["kl_mean"] > fp32["kl_mean"] and int4["token_agreement"] < 1
    assert rows["int4"]["size_bytes"] < rows["fp32"]["size_bytes"] / 2  # the tied embedding stays float (docs/llm.md)
    assert rows["int4"]["quantization"]["kept_float"] == ["/model/embed_tokens/Gather"]  # every MatMul quantized
    assert int4["rss_mb"] is None or int4["rss_mb"] > 0
    budgets = {b["name"] for b in rows["int4"]["budgets"]}
    assert {"max_perplexity_increase", "max_kl", "min_token_agreement", "accuracy_drop"} <= budgets
    assert (folder / "artifacts" / "x86-cpu-ort-genai-int4" / "model" / "genai_config.json").is_file()
    md = (folder / "report.md").read_text()
    assert "## Generation" in md and "decode tok/s" in md and "decode" in out  # the terminal wraps headers


def test_a_budget_int4_cannot_meet_exits_1_naming_it(builds: dict[str, Any]) -> None:
    code, out, err, folder = builds["tight"]
    assert code == 1, out + err
    report = json.loads((folder / "report.json").read_text())
    failed = [b for a in report["artifacts"] for b in a["budgets"] if not b["passed"]]
    assert "max_perplexity_increase" in {b["name"] for b in failed}
    assert "max_perplexity_increase" in out + err and "perplexity increase" in (folder / "report.md").read_text()


def test_a_prompt_longer_than_the_context_is_one_line_and_exit_2(builds: dict[str, Any]) -> None:
    code, out, err, folder = builds["long"]
    assert code == 2, out + err
    errors = [line for line in err.splitlines() if line.startswith("error")]  # beside progress lines
    assert len(errors) == 1 and "context_length 40" in errors[0] and "Traceback" not in err, err
    assert not folder.exists(), "bad input leaves nothing behind"
