"""The files of a text-generation build's bundle (issue 29): the artifact's whole folder, run.py, its
requirements, edgeconv's generation runner modules and the golden greedy generations.

The golden set is recorded here, at bundle time, from the verified artifact itself: the build's first evaluation
prompts (``out/device/golden.json``: their texts and the prompt token ids verification used) each generated
greedily by edgeconv's own runner for the artifact, so ``run.py --check`` on a board replays exactly those
generations, token for token. Only ONNX Runtime GenAI artifacts get a run.py: it streams through
onnxruntime-genai's tokenizer stream; an OpenVINO GenAI artifact is refused in one line (not built end to end
here, so its board path could not be tested).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeconv.api.device_assets import ASSETS
from edgeconv.backends.onnxruntime_genai import RUNNER as GENAI_RUNNER
from edgeconv.bundle.device_files import device_assets
from edgeconv.errors import DataError, SpecError
from edgeconv.fsutil import sha256_tree
from edgeconv.remote.bundle import module_file
from edgeconv.results import ArtifactResult, BuildResult, json_safe
from edgeconv.verify.worker import load_runner

RUN_LM_PY = Path(__file__).with_name("device") / "run_lm.py"
GOLDEN_LM = "golden/golden.json"
# What run.py imports from edgeconv: the runner, its generation base and the worker's load_runner (numpy only).
VENDORED = ("edgeconv.verify.worker", "edgeconv.verify.generation", GENAI_RUNNER.partition(":")[0])


# the refusal `edgeconv bundle OUT` (every target) turns into a skipped target with this reason
NOT_BUNDLED = "run.py runs ONNX Runtime GenAI artifacts"


def artifact_folder(build_dir: Path, entry: ArtifactResult) -> Path:
    """The artifact's folder where the build left it (re-rooted under build_dir if the folder moved), checked
    against report.json's hash of the whole tree (bundle and serve both read a decoder LM's artifact here)."""
    recorded = Path(entry.path or "")
    local = build_dir / "artifacts" / f"{entry.target}-{entry.precision}" / recorded.name
    folder = local if local.is_dir() else recorded
    if not entry.path or not folder.is_dir():
        raise SpecError(f"artifact folder of {entry.label} not found (looked for '{local}' and '{recorded}')",
                        fix="use the build folder that report.json came from, artifacts/ included")
    if entry.sha256 and sha256_tree(folder) != entry.sha256:
        raise DataError(f"artifact folder '{folder}' of {entry.label} does not match the sha256 in report.json",
                        fix="rebuild: the folder changed after the build")
    return folder


def lm_files(build_dir: Path, report: BuildResult, entries: list[ArtifactResult]) -> tuple[
        dict[str, bytes | Path], dict[str, Any]]:
    """(archive files, metadata.json's content) for the selected artifacts of a text-generation build."""
    recipe, raw = device_assets(build_dir)
    if recipe.get("kind") != "chat":
        raise SpecError(f"'{build_dir}/{ASSETS}' does not describe a text-generation build's prompts",
                        fix="rebuild it with this edgeconv, then bundle it")
    if recipe.get("split_error"):
        raise SpecError(f"cannot make run.py for this model: {recipe['split_error']}",
                        fix="set generation.chat_template: false, or use a model whose template keeps the text")
    files: dict[str, bytes | Path] = {}
    artifacts: dict[str, Any] = {}
    runners = {}
    for entry in entries:
        if entry.runner is None or entry.runner.runner != GENAI_RUNNER:
            raise SpecError(f"{NOT_BUNDLED}; {entry.label} runs in {entry.backend}",
                            fix="bundle the x86-cpu-ort-genai target (`edgeconv bundle OUT --target ...`)")
        folder = artifact_folder(build_dir, entry)
        prefix = f"artifacts/{entry.precision}/{folder.name}"
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            files[f"{prefix}/{path.relative_to(folder).as_posix()}"] = path
        row = json_safe(entry.to_dict())
        artifacts[entry.precision] = {
            "folder": prefix, "runner": entry.runner.to_dict(), "precision": entry.precision,
            "backend": entry.backend, "quantization": entry.quantization, "runtime": row["runtime"],
            "measured": {k: row[k] for k in ("accuracy", "agreement", "latency_ms", "size_bytes", "status",
                                              "generation")}}
        runners[entry.precision] = (entry.runner.kwargs, folder)
    golden = record_golden(recipe, raw, runners)
    files[GOLDEN_LM] = (json.dumps(golden, indent=1, ensure_ascii=False) + "\n").encode()
    files["run.py"] = RUN_LM_PY
    files["requirements.txt"] = lm_requirements(report, entries)
    for module in VENDORED:
        parts = module.split(".")
        files["pkg/" + "/".join(parts) + ".py"] = module_file(module)
        for i in range(1, len(parts)):
            files["pkg/" + "/".join(parts[:i]) + "/__init__.py"] = b""  # the real ones import the rest of edgeconv
    return files, {"preprocessing": recipe, "artifacts": artifacts, "labels": recipe.get("labels"),
                   "task": recipe.get("task"), "golden": {"file": GOLDEN_LM, "count": golden["count"]}}


def record_golden(recipe: dict[str, Any], raw: dict[str, Any],
                  runners: dict[str, tuple[dict[str, Any], Path]]) -> dict[str, Any]:
    """Each artifact's greedy tokens for the golden prompts, by edgeconv's runner with its recorded settings (its
    thread count: a different reduction order may flip a near tie). The stop token is held back for the whole
    length, as in the timed pass: a fine-tune that answers in one word would otherwise check one token."""
    length = int(recipe["new_tokens"])
    examples = [{"text": text, "prompt_ids": ids, "tokens": {}}
                for text, ids in zip(raw["raw"], raw["prompt_ids"], strict=True)]
    for precision, (kwargs, folder) in runners.items():
        runner = load_runner(GENAI_RUNNER, {**kwargs, "path": str(folder)})
        runner.activate()
        try:
            for example in examples:
                made = runner.generate(example["prompt_ids"], length, min_new_tokens=length)
                example["tokens"][precision] = made.tokens
        finally:
            runner.deactivate()
    return {"count": len(examples), "new_tokens": length, "examples": examples}


def lm_requirements(report: BuildResult, entries: list[ArtifactResult]) -> bytes:
    """requirements.txt: onnxruntime-genai at the version verification ran, the onnxruntime it ran on (the
    kernels that decide each greedy token), and numpy."""
    lines = ["# What run.py needs on the board (pip install -r requirements.txt): the runtime this artifact was",
             "# verified with, at the versions the build used. `python run.py --check` tells whether the board",
             "# reproduces the verified greedy generations."]
    for entry in entries:
        runtime = entry.measurement.runtime if entry.measurement else {}
        if runtime.get("runtime") != "onnxruntime-genai" or not runtime.get("version"):
            raise SpecError(f"report.json does not say which onnxruntime-genai verified {entry.label}",
                            fix="rebuild it with this edgeconv, then bundle it")
        lines.append(f"onnxruntime-genai=={runtime['version']}")
    ort = report.versions.get("onnxruntime")
    lines += [f"onnxruntime=={ort}"] if ort else []
    lines.append("numpy")
    return ("\n".join(dict.fromkeys(lines)) + "\n").encode()
