"""Independent trials of a search, run here one after another (the default, no Ray needed) or, inside
``on_ray(address)`` (`edgeconv build --ray [ADDRESS]`), as Ray tasks that each ask for the spec's threads as CPUs.

What runs as trials: the TFLite int8-full ranking's one-group-at-a-time quantizations, each scored by its logit
error on the probe set, and the prune sweep's pruning and distillation per ratio: work whose result does not
depend on where it runs. Nothing timed runs here: latency
is measured only by verification, on this machine or the board, so a shared Ray worker never sets a figure.
Trials read the float model from the build's folder: on a multi-node cluster that folder must be on storage
every node mounts (docs/scale.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from edgeconv.errors import RuntimeUnavailable
from edgeconv.progress.steps import Task

Item = TypeVar("Item")
Result = TypeVar("Result")
_ray: ContextVar[dict[str, Any] | None] = ContextVar("edgeconv_ray", default=None)


@contextlib.contextmanager
def on_ray(address: str | None) -> Iterator[dict[str, Any]]:
    """Run trials on Ray for the block: ``address`` of a cluster, or "local" for a Ray started here (and shut
    down after). Yields the record the report keeps (where trials ran, and how many)."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeUnavailable("--ray needs Ray", fix="pip install 'edgeconv[ray]'") from exc
    started = not ray.is_initialized()
    if started:
        _reachable(address)
        try:
            if address in (None, "", "local"):
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RuntimeUnavailable(f"cannot reach Ray at '{address}': {str(exc).splitlines()[0][:200]}",
                                     fix="start the cluster (ray start --head) or give its address") from exc
    node_cpus = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    record = {"address": address or "local", "cluster_cpus": ray.cluster_resources().get("CPU"),
              "largest_node_cpus": max(node_cpus, default=0), "trials": 0}
    token = _ray.set(record)
    try:
        yield record
    finally:
        _ray.reset(token)
        if started:
            ray.shutdown()


def on_ray_now() -> bool:
    """Whether trials go to Ray here (inside ``on_ray``)."""
    return _ray.get() is not None


def ray_record() -> dict[str, Any] | None:
    """Inside ``on_ray``: the record the report keeps (where trials ran, how many so far); else None."""
    return _ray.get()


def _reachable(address: str | None) -> None:
    """Fail in seconds on a cluster address nothing listens at: ray.init itself waits minutes for one."""
    import re
    import socket

    found = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)", address or "")
    if not found:  # "local", "auto" or none: Ray finds or starts its own
        return
    try:
        socket.create_connection((found.group(1), int(found.group(2))), timeout=5).close()
    except OSError as exc:
        raise RuntimeUnavailable(f"cannot reach Ray at '{address}': {exc}",
                                 fix="start the cluster (ray start --head) or give its address") from exc


def map_trials(trial: Callable[[Item], Result], items: Sequence[Item], cpus: int, task: Task,
               describe: Callable[[Item, Result], str]) -> list[Result]:
    """``[trial(item) for item in items]``, in the items' order; on Ray, as tasks of ``cpus`` CPUs each, the
    progress advancing as each one finishes."""
    record = _ray.get()
    if record is None:
        results = []
        for item in items:
            results.append(trial(item))
            task.advance(describe(item, results[-1]))
        return results
    import ray

    # A task asking more CPUs than any node has would wait forever (a 4-thread board profile on 2-core nodes).
    cpus = max(1, min(cpus, int(record["largest_node_cpus"] or cpus)))
    remote = ray.remote(num_cpus=cpus, max_retries=0)(_call)
    shared = ray.put(trial)  # sent once, not with every task (it may hold calibration ranges and probe data)
    pending = {remote.remote(shared, item): k for k, item in enumerate(items)}
    record["trials"] += len(items)
    found: dict[int, Result] = {}
    while pending:
        (done,), _ = ray.wait(list(pending), num_returns=1)
        k = pending.pop(done)
        found[k] = ray.get(done)
        task.advance(describe(items[k], found[k]))
    return [found[k] for k in range(len(items))]


def _call(trial: Callable[[Item], Result], item: Item) -> Result:
    """The Ray task: ``trial`` is any picklable callable (a partial of a module function), which ray.remote
    itself does not take."""
    return trial(item)
