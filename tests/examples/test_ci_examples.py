"""Run the `run:` steps of examples/ci/github-actions.yml and examples/ci/release.sh for real, on the tiny project.

`edgeconv` is the real CLI (with this branch's commands); `gh` is a stand-in that serves a baseline report
and records the PR comment; `uses:` steps (checkout, setup-python, upload-artifact) and the pip install
are GitHub's or the runner's business and are not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
RELEASE = ROOT / "examples" / "ci" / "release.sh"
GITHUB = {"github.token": "test-token", "github.repository": "owner/repo", "github.event.pull_request.number": "7",
          "env.OUT": "out"}

FAKE_GH = """\
import json, os, shutil, sys
from pathlib import Path
args = sys.argv[1:]
if args[:2] == ["run", "list"]:
    print("42")
elif args[:2] == ["run", "download"]:
    assert args[2] == "42" and "--name" in args, args
    folder = Path(args[args.index("--dir") + 1]); folder.mkdir(parents=True, exist_ok=True)
    report = json.loads(Path(os.environ["FAKE_BASELINE"]).read_text())
    if os.environ.get("FAKE_BASELINE_ACCURACY"):  # main was better: every accuracy set to this
        for entry in [report["reference"], *report["artifacts"]]:
            if entry.get("accuracy") is not None:
                entry["accuracy"] = float(os.environ["FAKE_BASELINE_ACCURACY"])
    (folder / "report.json").write_text(json.dumps(report))
elif args[:2] == ["pr", "comment"]:
    assert args[2] == "7", args
    shutil.copyfile(args[args.index("--body-file") + 1], os.environ["FAKE_COMMENT"])
else:
    sys.exit(f"fake gh: unexpected {args}")
"""


def tool_path(tmp: Path) -> dict[str, str]:
    """PATH with `edgeconv` (real CLI + this branch's commands) and a fake `gh`."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "edgeconv").write_text(f"#!/bin/sh\nexec '{sys.executable}' -m tests.cligroup \"$@\"\n")
    (bin_dir / "gh").write_text(f"#!/bin/sh\nexec '{sys.executable}' '{bin_dir / 'gh.py'}' \"$@\"\n")
    (bin_dir / "gh.py").write_text(FAKE_GH)
    for name in ("edgeconv", "gh"):
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def expand(value: object) -> str:
    def sub(match: re.Match) -> str:
        return GITHUB[match.group(1).strip()]

    return re.sub(r"\$\{\{(.*?)\}\}", sub, str(value))


def condition_holds(expr: str, cwd: Path) -> bool:
    """The few expressions the example uses, on a pull_request event; anything else fails the test."""
    for clause in (c.strip() for c in expr.split("&&")):
        if clause in ("always()", "github.event_name == 'pull_request'"):
            continue
        found = re.fullmatch(r"hashFiles\('([^']+)'\) != ''", clause)
        assert found, f"the test does not know how to evaluate `{clause}`: teach condition_holds"
        if not (cwd / found.group(1)).exists():
            return False
    return True


def run_workflow(project: Path, tmp: Path, **fake: str) -> tuple[int, dict[str, str], Path]:
    """Run the pull-request path of the workflow; returns the Gate step's exit code, final env, comment file."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (steps,) = [job["steps"] for job in workflow["jobs"].values()]
    github_env = tmp / "github_env"
    comment = tmp / "comment.md"
    env = {**os.environ, **tool_path(tmp), **{k: expand(v) for k, v in workflow["env"].items()},
           "GITHUB_ENV": str(github_env), "FAKE_COMMENT": str(comment), **fake}
    code = None
    for step in steps:
        if "run" not in step or step["run"].lstrip().startswith("python -m pip install"):
            continue
        if "if" in step and not condition_holds(step["if"], project):
            continue
        github_env.write_text("")
        proc = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=project, capture_output=True,
                              text=True, env={**env, **{k: expand(v) for k, v in step.get("env", {}).items()}},
                              timeout=300, check=False)
        for line in github_env.read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        code = proc.returncode
        if step["name"] != "Gate":
            assert proc.returncode == 0, f"step '{step['name']}' failed: {proc.stderr[-2000:]}"
    return code, env, comment


def test_workflow_on_an_unchanged_pull_request_passes_and_comments(tiny_project, tmp_path):
    # main's report is this build's own (served after the build step): equal reports, so the verdict
    # cannot depend on this machine's timing noise
    code, env, comment = run_workflow(tiny_project, tmp_path, FAKE_BASELINE=str(tiny_project / "out" / "report.json"))
    assert env["BUILD_EXIT"] == "0" and env["COMPARE_EXIT"] == "0" and code == 0
    assert "no regression" in comment.read_text() and "| artifact | metric |" in comment.read_text()
    assert (tiny_project / "compare.xml").is_file()


def test_workflow_fails_the_check_on_an_accuracy_regression(tiny_project, tmp_path):
    code, env, comment = run_workflow(tiny_project, tmp_path, FAKE_BASELINE=str(tiny_project / "out" / "report.json"),
                                      FAKE_BASELINE_ACCURACY="1.0")
    assert env["BUILD_EXIT"] == "0" and env["COMPARE_EXIT"] == "1" and code == 1
    text = comment.read_text()
    assert "regression(s)" in text and re.search(r"\*\*x86-cpu-ort/[\w-]+\*\*: accuracy", text)


def test_release_script_builds_bundles_verifies_and_a_corrupted_bundle_is_refused(tiny_project, tmp_path):
    env = {**os.environ, **tool_path(tmp_path / "tools")}
    proc = subprocess.run(["bash", str(RELEASE), "edgeconv.yaml", "rel"], cwd=tiny_project, capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bundles = [tiny_project / b for b in (tiny_project / "rel" / "bundles.txt").read_text().split()]
    assert bundles and all(b.is_file() for b in bundles)
    assert proc.stdout.count("ok: ") == len(bundles)

    data = bytearray(bundles[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundles[0].write_bytes(bytes(data))
    proc = subprocess.run(["edgeconv", "bundle", "verify", str(bundles[0])], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr


@pytest.fixture(autouse=True)
def _needs_bash() -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run the CI examples' scripts")


SHARDED = ROOT / "examples" / "ci" / "sharded.yml"


def run_steps(steps: list[dict], cwd: Path, env: dict[str, str], values: dict[str, str]) -> None:
    """Run a job's `run:` steps (not `uses:`, not the pip install) with ``${{ ... }}`` taken from ``values``."""
    def fill(text: object) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: values[m.group(1).strip()], str(text))

    for step in steps:
        if "run" not in step or step["run"].lstrip().startswith("python -m pip install"):
            continue
        proc = subprocess.run(["bash", "-eo", "pipefail", "-c", fill(step["run"])], cwd=cwd, capture_output=True,
                              text=True, env=env, timeout=300, check=False)
        assert proc.returncode == 0, f"step '{step['name']}' failed: {proc.stdout[-1000:]} {proc.stderr[-2000:]}"


def test_sharded_workflow_plans_builds_each_shard_and_merges(tiny_project, tmp_path):
    """The plan job's matrix, one local process per build job (as runners would), then the merge job."""
    workflow = yaml.safe_load(SHARDED.read_text())
    jobs = workflow["jobs"]
    output = tmp_path / "github_output"
    output.write_text("")
    env = {**os.environ, **tool_path(tmp_path), **{k: str(v) for k, v in workflow["env"].items()},
           "GITHUB_OUTPUT": str(output)}
    run_steps(jobs["plan"]["steps"], tiny_project, env, {})
    matrix = json.loads(output.read_text().partition("matrix=")[2])
    assert jobs["build"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert [e["shard"] for e in matrix["include"]] == ["1/2", "2/2"]
    secrets = {"vars.EDGECONV_CACHE_URL": "", "secrets.AWS_ACCESS_KEY_ID": "", "secrets.AWS_SECRET_ACCESS_KEY": ""}
    build_env = {**env, **{k: re.sub(r"\$\{\{(.*?)\}\}", lambda m: secrets[m.group(1).strip()], str(v))
                           for k, v in jobs["build"]["env"].items()}}
    for index, entry in enumerate(matrix["include"]):
        run_steps(jobs["build"]["steps"], tiny_project, build_env,
                  {"matrix.shard": entry["shard"], "strategy.job-index": str(index)})
        # what actions/download-artifact does with `pattern: shard-*`: each artifact in shards/<its name>/
        (tiny_project / "shards").mkdir(exist_ok=True)
        shutil.move(str(tiny_project / f"shard-{index}"), tiny_project / "shards" / f"shard-{index}")
    run_steps(jobs["merge"]["steps"], tiny_project, env, {})
    report = json.loads((tiny_project / "out" / "report.json").read_text())
    assert [s["shard"] for s in report["merged"]["shards"]] == ["1/2", "2/2"]
    assert len(report["artifacts"]) == 3 and all((tiny_project / a["path"]).is_file() for a in report["artifacts"])
