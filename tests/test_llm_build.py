"""`edgeconv build` of the LLM sample (task: text-generation, issue 29) on ONNX Runtime GenAI and OpenVINO GenAI.

One module-scoped fixture makes every build the tests read, in one stage cache of its own: the sample on 4
evaluation tweets as a device build (`targets: [{device: x86-64}]`, fp32 and int4 of both runtimes, one choice
across them; most of its time is the GGUF reference's dequantization, OpenVINO's export environment and its
export), then ONNX Runtime's int4 with a budget it cannot meet (the stages come back from the cache), a context
too short for the prompts, and the GGUF named by its plain file path (every stage, verification included, comes
back from the cache: only the interleaved timing runs again). Speed is only checked for being positive and
ordered; figures come from the bench. The bundle tests at the end bundle the main build's int4 artifact once and
run it in a fresh venv (~35 s on a busy machine).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeconv.cli import main
from edgeconv.spec.source import resolve_model_path
from tests.llm_shared import GGUF, need_llm_packages

SPEC = Path(__file__).resolve().parents[1] / "samples" / "smollm2-sentiment" / "edgeconv.yaml"
SMALL = ["--set", "evaluation.count=4", "--set", "generation.new_tokens=6", "--set", "generation.timing_rounds=1",
         "--set", "targets=[{device: x86-64, precisions: [fp32, int4]}]"]
ORT, OPENVINO = "x86-cpu-ort-genai", "x86-cpu-openvino-genai"
# the device build leaves out a runtime that is not installed (its left_out line says so)
HAS_OPENVINO = all(importlib.util.find_spec(m) is not None for m in ("openvino_genai", "nncf"))


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
                                 "--set", f"targets=[{{name: {ORT}, precisions: [int4]}}]"), root / "tight")
        made["long"] = (*_build(root / "long", "--set", "generation.context_length=40"), root / "long")
        made["plain"] = (*_build(root / "plain", "--set", f"model.path={resolve_model_path(GGUF)}"), root / "plain")
    return made


def test_the_sample_builds_every_artifact_with_its_generation_figures(builds: dict[str, Any]) -> None:
    code, out, err, folder = builds["main"]
    report = json.loads((folder / "report.json").read_text())
    assert report["evaluation"]["task"] == "text-generation"
    built = {(a["target"], a["precision"]): a for a in report["artifacts"]}
    assert set(built) == {(t, p) for t in (ORT, OPENVINO)[: 1 + HAS_OPENVINO] for p in ("fp32", "int4")}
    rows = {p: a for (t, p), a in built.items() if t == ORT}
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


def test_openvino_genai_artifacts_are_verified_and_one_choice_spans_both_runtimes(builds: dict[str, Any]) -> None:
    if not HAS_OPENVINO:
        pytest.skip("openvino-genai is not installed: pip install 'edgeconv[llm]'")
    folder = builds["main"][-1]
    report = json.loads((folder / "report.json").read_text())
    rows = {a["precision"]: a for a in report["artifacts"] if a["target"] == OPENVINO}
    if any("optimum-intel's environment" in (a["reason"] or "") for a in rows.values()):
        pytest.skip(f"optimum-intel's export environment could not be made here: {rows['int4']['reason']}")
    assert all(a["status"] in ("passed", "failed") for a in rows.values()), [a["reason"] for a in rows.values()]
    fp32, int4 = rows["fp32"]["generation"], rows["int4"]["generation"]
    assert abs(fp32["perplexity_change_pct"]) < 0.1 and fp32["kl_mean"] < 1e-4 and fp32["token_agreement"] > 0.99
    assert int4["kl_mean"] > fp32["kl_mean"] and int4["texts"] == 4 and int4["decode_tokens_per_s"] > 0
    assert rows["int4"]["quantization"]["weights"].get("i4", 0) > 0  # NNCF's int4 weights, read from the IR
    assert rows["int4"]["size_bytes"] < rows["fp32"]["size_bytes"] / 3
    assert (folder / "artifacts" / f"{OPENVINO}-int4" / "model" / "openvino_model.xml").is_file()
    (choice,) = report["selections"]  # the device build's one choice, across both runtimes
    assert choice["device"] == "x86-64" and len(choice["ranking"]) == len(report["artifacts"])
    assert {r["artifact"].split("/")[0] for r in choice["ranking"]} == {ORT, OPENVINO}
    speeds = [r["speedup"] for r in choice["ranking"]]  # all over the reference timed in the same pass
    assert speeds == sorted(speeds, reverse=True) and all(s > 0 for s in speeds)
    if choice["precision"] is not None:  # the fastest row that met every budget, whichever runtime it is
        chosen = next(r for r in choice["ranking"] if r["why"].startswith("chosen"))
        assert chosen["artifact"] == f"{choice['target']}/{choice['precision']}" and chosen["status"] == "passed"
        eligible = [r for r in choice["ranking"] if r["status"] == "passed" and "fp32 reference" not in r["why"]]
        floor = eligible[0]["speedup_interval"][0]  # the fastest eligible row's low end: tied rows reach it
        assert all(r["speedup_interval"][1] < floor for r in eligible if r["why"] == "slower")


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


def test_serve_loads_the_builds_chosen_artifact_from_a_moved_build(builds: dict[str, Any], tmp_path: Path) -> None:
    import os
    import shutil

    from edgeconv.bundle.make import choice
    from edgeconv.errors import SpecError
    from edgeconv.results import read_report
    from edgeconv.serve.generative import GenerativeModel
    from edgeconv.serve.model import load_model

    _, _, _, folder = builds["main"]
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved, copy_function=os.link)  # report.json's paths still name the old place
    report = read_report(moved / "report.json")
    # serve runs ONNX Runtime GenAI artifacts: with no --target it takes that runtime's choice, whatever the order
    passed = [a for a in report.artifacts if a.status == "passed" and a.target == ORT]
    if not passed:
        with pytest.raises(SpecError, match=r"passed its budgets|ONNX Runtime GenAI"):
            load_model(moved, None, None, 1)
        return
    model = load_model(moved, None, None, 1)
    chosen = choice(report, ORT, passed)
    assert isinstance(model, GenerativeModel) and model.name == report.spec_name and model.context_length > 0
    assert model.runner.path == str(moved / "artifacts" / f"x86-cpu-ort-genai-{chosen}" / "model")
    assert model.runner.generate(model.chat_ids([{"role": "user", "content": "Hi!"}]), 3).tokens


# ---- `edgeconv bundle` of the build (run.py in a fresh venv: onnxruntime-genai, onnxruntime, numpy only) --------


@pytest.fixture(scope="module")
def lm_board(builds: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The int4 artifact's bundle unpacked beside a fresh venv holding only its requirements.txt (~30 s with pip's
    cache; the board tests' shared cost)."""
    from edgeconv.bundle.every import make_bundles
    from tests.bundle.test_device_venv import device_venv

    folder = builds["main"][3]
    where = tmp_path_factory.mktemp("lm-board")
    # every target, as `edgeconv bundle OUT` does: OpenVINO GenAI's is left out with its reason, not an error
    made = make_bundles(folder, dest=where, include_failed=True, precisions=["int4"])
    assert len(made.made) == 1 and ORT in made.made[0].name, made
    assert [target for target, _ in made.skipped] == [OPENVINO] * HAS_OPENVINO, made.skipped
    assert all("run.py runs ONNX Runtime GenAI" in why for _, why in made.skipped)
    unpacked, python = device_venv(made.made[0], where)
    return {"build": folder, "bundle": made.made[0], "folder": unpacked, "python": python}


def _board_env() -> dict[str, str]:
    """The environment without PYTHONPATH, which may point at this checkout: a board has no edgeconv."""
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run_py(board: dict[str, Any], *args: str) -> Any:
    import subprocess

    return subprocess.run([str(board["python"]), "run.py", *args], cwd=board["folder"], capture_output=True,
                          text=True, timeout=300, env=_board_env())


def test_the_bundle_checks_its_golden_generations_without_edgeconv_or_torch(lm_board: dict[str, Any]) -> None:
    import subprocess

    import onnxruntime_genai as og

    folder = lm_board["folder"]
    assert f"onnxruntime-genai=={og.__version__}" in (folder / "requirements.txt").read_text().splitlines()
    assert (folder / "artifacts" / "int4" / "model" / "genai_config.json").is_file()
    for module in ("edgeconv", "torch", "transformers"):
        probe = subprocess.run([str(lm_board["python"]), "-c", f"import {module}"], capture_output=True,
                               cwd=folder.parent, env=_board_env())  # not the repository root either
        assert probe.returncode != 0, f"{module} is importable in the board's venv"
    ok = _run_py(lm_board, "--check")
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 3 golden prompts of int4"), ok.stdout + ok.stderr
    golden = json.loads((folder / "golden" / "golden.json").read_text())
    assert all(e["tokens"]["int4"] for e in golden["examples"]), "every golden prompt generates something"


def test_run_py_streams_the_greedy_tokens_edgeconvs_runner_gives(lm_board: dict[str, Any]) -> None:
    """A text no golden prompt holds: the prompt run.py builds is the reference tokenizer's (transformers' chat
    template), and its tokens are the ones edgeconv's runner generates from it."""
    from transformers import AutoTokenizer

    from edgeconv.models.causal_lm import chat_prompt
    from edgeconv.verify.worker import load_runner

    report = json.loads((lm_board["build"] / "report.json").read_text())
    gen = report["evaluation"]["generation"]
    text = "Finally got the new phone and it is wonderful, best day ever!"
    tok = AutoTokenizer.from_pretrained(report["reference"]["path"])
    ids = tok(chat_prompt(tok, gen["prompt"].format(text=text), gen["system"]), add_special_tokens=False).input_ids
    row = next(a for a in report["artifacts"] if a["target"] == ORT and a["precision"] == "int4")
    runner = load_runner(row["runner"]["runner"], {**row["runner"]["kwargs"], "path": row["path"]})
    runner.activate()
    try:
        expected = runner.generate(ids, gen["new_tokens"]).tokens
        words = runner.decode(expected)
    finally:
        runner.deactivate()
    result = _run_py(lm_board, text, "--json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["prompt_ids"] == ids and got["tokens"] == expected and expected
    streamed = _run_py(lm_board, text)
    assert streamed.returncode == 0 and streamed.stdout == words + "\n", (streamed.stdout, words)
    draws = [_run_py(lm_board, text, "--json", "--temperature", "1.5", "--seed", "5") for _ in range(2)]
    assert draws[0].returncode == 0 and json.loads(draws[0].stdout)["tokens"] == json.loads(draws[1].stdout)["tokens"]
    refused = _run_py(lm_board, text, "--temperature", "-1")
    assert refused.returncode == 2 and "--temperature" in refused.stderr and "Traceback" not in refused.stderr


def test_a_tampered_golden_file_fails_the_check_naming_the_token(lm_board: dict[str, Any]) -> None:
    golden = lm_board["folder"] / "golden" / "golden.json"
    original = golden.read_text()
    try:
        data = json.loads(original)
        data["examples"][1]["tokens"]["int4"][0] += 1
        golden.write_text(json.dumps(data))
        bad = _run_py(lm_board, "--check")
        golden.write_text(original[: len(original) // 2])
        broken = _run_py(lm_board, "--check")
    finally:
        golden.write_text(original)
    lines = bad.stdout.splitlines()
    assert bad.returncode == 1 and len(lines) == 2, bad.stdout + bad.stderr
    assert lines[0].startswith("golden prompt 1: greedy token 0 is ") and lines[1].startswith("FAILED: 1 difference")
    assert broken.returncode == 2 and broken.stderr.startswith("error: the golden file golden/golden.json is "
                                                               "unreadable") and len(broken.stderr.splitlines()) == 1


def test_bundling_a_text_generation_build_without_its_artifact_is_one_line(builds: dict[str, Any],
                                                                            tmp_path: Path) -> None:
    import shutil

    source = builds["main"][3]
    shutil.copytree(source / "device", tmp_path / "device")
    report = json.loads((source / "report.json").read_text())
    for row in report["artifacts"]:
        row["path"] = str(tmp_path / "gone" / "model")
    (tmp_path / "report.json").write_text(json.dumps(report))
    result = CliRunner().invoke(main, ["bundle", str(tmp_path), "--target", "x86-cpu-ort-genai",
                                       "--include-failed"])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert result.exit_code == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.output
    assert "artifact folder of x86-cpu-ort-genai/" in errors[0] and "not found" in errors[0]
    assert not (tmp_path / "bundles").exists() or not any((tmp_path / "bundles").iterdir())


def test_a_plain_gguf_path_builds_reusing_every_stage_and_the_verification(builds: dict[str, Any]) -> None:
    """The same GGUF by its file path: the stages are keyed by content, so the second build reuses the reference,
    the artifacts and their verification (stage log), and measures only the interleaved timing again."""
    code, out, err, folder = builds["plain"]
    main_code, main_out, main_err, main_folder = builds["main"]
    assert code == main_code, out + err
    for stage in ("reference", "verification/reference", "verification/x86-cpu-ort-genai-fp32",
                  "verification/x86-cpu-ort-genai-int4"):
        assert f"✓ {stage} " in main_out + main_err, main_out + main_err  # measured by the first build
        assert f"↺ {stage} (reused" in out + err and f"✓ {stage} " not in out + err, out + err
    report, first = (json.loads((f / "report.json").read_text()) for f in (folder, main_folder))
    assert report["reference"]["sha256"] == first["reference"]["sha256"]
    for row, was in zip(report["artifacts"], first["artifacts"], strict=True):
        g, w = row["generation"], was["generation"]
        assert (g["kl_mean"], g["task_accuracy"], g["rss_mb"]) == (w["kl_mean"], w["task_accuracy"], w["rss_mb"])
        assert g["decode_tokens_per_s"] > 0 and row["speedup_interval"][0] <= row["speedup_vs_reference"]


def test_the_bench_measures_every_built_row_and_reports_a_peer_it_cannot_make(
        builds: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/llm.py on the main build (no rebuild): every artifact row measured like the reference, ratios paired
    per round; a peer that cannot be made here (llama.cpp without its sources) is a row with the reason."""
    import importlib.util

    from edgeconv.api.generative_data import lm_evaluation
    from edgeconv.models.causal_lm import load_causal_lm
    from edgeconv.spec import load_spec
    from edgeconv.verify.reference_lm import TorchLMRunner

    monkeypatch.delenv("LLAMA_CPP_SOURCES", raising=False)
    found = importlib.util.spec_from_file_location("bench_llm", SPEC.parents[2] / "bench" / "llm.py")
    assert found is not None and found.loader is not None
    bench = importlib.util.module_from_spec(found)
    monkeypatch.setitem(sys.modules, "bench_llm", bench)  # its dataclasses look their module up there
    found.loader.exec_module(bench)
    folder = builds["main"][3]
    rows, report = bench.edgeconv_rows(folder, threads=1)
    assert [r.name.removesuffix(" (chosen)") for r in rows] == [
        f"edgeconv: {a['target']} {a['precision']}" for a in report["artifacts"]]
    rows = [r for r in rows if ORT in r.name]  # one runtime's rows are enough to test the bench's own code
    lm = load_causal_lm(report["reference"]["path"])
    evaluation = lm_evaluation(load_spec(SPEC, ["evaluation.count=2"]), lm)
    reference = bench.Row(bench.TORCH, "baseline", TorchLMRunner(lm, threads=1), 1.0)
    reference.runner.activate()
    (peer,) = bench.make_peers(Path(report["reference"]["path"]), tmp_path, 1, ["llama.cpp"], None)
    assert peer.runner is None and "LLAMA_CPP_SOURCES" in peer.reason
    table_rows = [reference, *rows, bench.Row(peer.name, "peer", None, None, peer.reason)]
    bench.measure(table_rows[1:], reference, evaluation)
    bench.time_rows(table_rows, evaluation.prompts[0], 4, 2)
    fp32, int4 = (next(r for r in rows if f" {p}" in r.name) for p in ("fp32", "int4"))
    assert reference.speed["x_torch"][0] == 1.0 and fp32.speed["x_peer"] is None  # no peer was measured
    assert fp32.figures["kl_mean"] < 1e-4 and int4.figures["kl_mean"] > fp32.figures["kl_mean"]
    assert int4.size_mb < fp32.size_mb / 2 and all(r.speed["decode_tokens_per_s"] > 0 for r in table_rows[:3])
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in bench.table(table_rows)[2:]]
    assert len(cells) == 2 + len(rows) and cells[-1][1:] == ["–"] * 12  # the peer: no figures
    assert cells[0][5:10] == ["–"] * 5 and abs(float(cells[1][6])) < 0.1  # torch: no peer ratio, no fidelity to itself
