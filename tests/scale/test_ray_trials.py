"""--ray: the TFLite int8-full ranking's trials as Ray tasks on a local Ray (started by the test, 2 CPUs) give the
same scores, ranking and choice as the sequential build; without Ray installed or reachable, one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconv.compress.trials import map_trials, on_ray
from edgeconv.progress.steps import Task

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'edgeconv[ray]')")


def test_an_unreachable_cluster_is_one_line(tiny_project: Path) -> None:
    from click.testing import CliRunner

    from edgeconv.cli import main

    assert not ray.is_initialized()  # runs before the module's local Ray starts
    result = CliRunner().invoke(main, ["build", str(tiny_project / "edgeconv.yaml"), "--ray", "127.0.0.1:1"])
    assert result.exit_code == 3 and "cannot reach Ray at '127.0.0.1:1'" in result.stderr, result.output
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def local_ray() -> object:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def square(x: int) -> int:
    return x * x


def test_trials_come_back_in_order_and_are_counted(local_ray: object) -> None:
    with on_ray(None) as record:
        assert map_trials(square, [3, 1, 2], 1, Task("t", 3), lambda i, r: f"{i}->{r}") == [9, 1, 4]
    assert record["trials"] == 3 and record["cluster_cpus"] == 2
    assert map_trials(square, [3], 1, Task("t", 1), lambda i, r: "") == [9]  # outside on_ray: sequential


@pytest.mark.slow
def test_the_int8_full_ranking_on_ray_equals_the_sequential_one(local_ray: object, tmp_path: Path) -> None:
    pytest.importorskip("litert_torch", reason="the TFLite extra is not installed")
    from edgeconv.api import pipeline as api
    from edgeconv.spec import load_spec
    from tests.backends.tflite.test_tflite import write_tiny_project

    project = write_tiny_project(
        tmp_path / "project", seed=1, n_eval=40, n_calib=24, flipped=0, name="tiny-ray",
        targets=[{"name": "arm64-tflite", "threads": 1, "precisions": ["int8-full"]}], budgets={"min_agreement": 1.0})
    spec = load_spec(project / "edgeconv.yaml")
    (sequential,) = api.build(spec, out=tmp_path / "sequential").artifacts
    with on_ray(None) as record:
        (on_ray_built,) = api.build(spec, out=tmp_path / "ray", use_cache=False).artifacts
    a, b = sequential.quantization["fallback"], on_ray_built.quantization["fallback"]
    assert record["trials"] >= len(a["sensitivity_top"]) > 1  # every group ranked on Ray (the top ones reported)
    assert [(r["name"], r["logit_mse"]) for r in a["sensitivity_top"]] == \
        [(r["name"], r["logit_mse"]) for r in b["sensitivity_top"]]
    assert a["chosen_trial"] == b["chosen_trial"]
    assert sequential.quantization["float_activation_groups"] == on_ray_built.quantization["float_activation_groups"]
    assert sequential.sha256 == on_ray_built.sha256


@pytest.mark.slow
def test_a_prune_sweep_on_ray_equals_the_sequential_one(local_ray: object, tmp_path: Path) -> None:
    """Each ratio's pruning and distillation runs as a Ray task; building, verification and timing stay here;
    the pruned models and every score are the sequential run's."""
    pytest.importorskip("torch_pruning", reason="Torch-Pruning is not installed")
    from edgeconv.api.sweep import run_sweep
    from edgeconv.spec import load_spec
    from tests.compress.test_prune_build import tiny_bert_project

    spec = load_spec(tiny_bert_project(tmp_path, {"mode": "structured", "ratio": 0.3}))
    build_a, rows_a = run_sweep(spec, [0.3, 0.6], ["fp32"], tmp_path / "sequential")
    events: list[tuple[str, str]] = []
    with on_ray(None) as record:
        build_b, rows_b = run_sweep(spec, [0.3, 0.6], ["fp32"], tmp_path / "ray", use_cache=False,
                                    on_event=lambda stage, event: events.append((stage, event)))
    assert record["trials"] == 2
    # the pruning ran on Ray (no --no-cache: fresh there); here it was only picked up, never run
    assert ("prune", "cached") in events and ("prune", "start") not in events

    def scores(build: object) -> list[tuple]:
        return [(a.target, a.precision, a.sha256, a.measurement.accuracy, a.measurement.agreement)
                for a in build.artifacts]

    assert scores(build_a) == scores(build_b)
    assert [(r.ratio, r.params, r.size_bytes, r.accuracy) for r in rows_a] == \
        [(r.ratio, r.params, r.size_bytes, r.accuracy) for r in rows_b]
