"""The dynamic batcher on its own: which requests it joins, how it splits the answers, and how one bad request
or a model whose outputs do not carry the batch stays contained. A fake runtime records every call."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from edgeconv.serve.batching import BatchSettings, DynamicBatcher, batch_key


class Recorder:
    """A runtime that doubles its input and records the batch size of each call; refuses negative inputs."""

    def __init__(self, keep_batch: bool = True) -> None:
        self.calls: list[int] = []
        self.keep_batch = keep_batch
        self.lock = threading.Lock()

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = feeds["x"]
        with self.lock:
            self.calls.append(x.shape[0])
        if (x < 0).any():
            raise ValueError("negative input")
        out = x * 2 if self.keep_batch else (x * 2).sum(keepdims=True)[0]
        return {"y": out}


def run_all(batcher: DynamicBatcher, requests: list[dict[str, np.ndarray]]) -> list:
    async def main() -> list:
        return await asyncio.gather(*(batcher.infer(r) for r in requests), return_exceptions=True)

    return asyncio.run(main())


def rows(*values: float, width: int = 3) -> dict[str, np.ndarray]:
    return {"x": np.array([[v] * width for v in values], np.float32)}


def test_concurrent_requests_are_joined_up_to_the_limit_and_each_gets_its_own_rows() -> None:
    runtime = Recorder()
    requests = [rows(i) for i in range(10)]
    answers = run_all(DynamicBatcher(runtime, BatchSettings(max_batch=4, max_delay_s=0.05)), requests)
    assert runtime.calls == [4, 4, 2]
    for request, answer in zip(requests, answers, strict=True):
        np.testing.assert_array_equal(answer["y"], request["x"] * 2)


def test_a_request_of_several_rows_counts_them_and_a_larger_one_runs_alone() -> None:
    runtime = Recorder()
    requests = [rows(1, 2, 3), rows(4, 5), rows(6, 7, 8, 9, 10, 11)]
    answers = run_all(DynamicBatcher(runtime, BatchSettings(max_batch=5, max_delay_s=0.05)), requests)
    assert runtime.calls == [5, 6]
    assert [a["y"].shape[0] for a in answers] == [3, 2, 6]
    np.testing.assert_array_equal(answers[2]["y"], requests[2]["x"] * 2)


def test_requests_of_other_shapes_or_dtypes_are_never_joined() -> None:
    runtime = Recorder()
    requests = [rows(1), rows(2, width=5), {"x": np.ones((1, 3), np.float64)}, rows(3)]
    assert len({batch_key(r) for r in requests}) == 3
    answers = run_all(DynamicBatcher(runtime, BatchSettings(max_batch=8, max_delay_s=0.05)), requests)
    assert sorted(runtime.calls) == [1, 1, 2]
    assert answers[1]["y"].shape == (1, 5) and answers[2]["y"].dtype == np.float64


def test_one_bad_request_fails_alone_and_its_batch_mates_are_answered() -> None:
    runtime = Recorder()
    requests = [rows(1), rows(-1), rows(2)]
    answers = run_all(DynamicBatcher(runtime, BatchSettings(max_batch=8, max_delay_s=0.05)), requests)
    assert isinstance(answers[1], ValueError)
    np.testing.assert_array_equal(answers[0]["y"], rows(1)["x"] * 2)
    np.testing.assert_array_equal(answers[2]["y"], rows(2)["x"] * 2)
    assert runtime.calls == [3, 1, 1, 1]  # the joined call refused, then each on its own


def test_outputs_without_the_batch_first_turn_joining_off_for_good() -> None:
    runtime = Recorder(keep_batch=False)
    batcher = DynamicBatcher(runtime, BatchSettings(max_batch=8, max_delay_s=0.05))

    async def twice() -> tuple[list, list[int], list]:
        first = await asyncio.gather(batcher.infer(rows(1)), batcher.infer(rows(2)))
        calls = list(runtime.calls)
        runtime.calls.clear()
        second = await asyncio.gather(batcher.infer(rows(1)), batcher.infer(rows(2)))
        return first, calls, second

    first, calls, second = asyncio.run(twice())
    assert calls == [2, 1, 1] and not batcher.joinable
    assert [a["y"].item() for a in first] == [6.0, 12.0] == [a["y"].item() for a in second]
    assert runtime.calls == [1, 1]


@pytest.mark.parametrize("max_batch", [1, 8])
def test_a_lone_request_is_not_held_past_the_delay(max_batch: int) -> None:
    runtime = Recorder()
    batcher = DynamicBatcher(runtime, BatchSettings(max_batch=max_batch, max_delay_s=0.01))

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.wait_for(batcher.infer(rows(1)), timeout=5)
        return loop.time() - start

    assert asyncio.run(main()) < 5
    assert runtime.calls == [1]


def test_the_metrics_hook_sees_each_call() -> None:
    seen: list[tuple[int, int]] = []
    batcher = DynamicBatcher(Recorder(), BatchSettings(max_batch=4, max_delay_s=0.05),
                             lambda rows_, waits, seconds: seen.append((rows_, len(waits))))
    run_all(batcher, [rows(i) for i in range(6)])
    assert seen == [(4, 4), (2, 2)]
