"""Dynamic batching for `edgeconv serve`, after Triton's dynamic batcher: concurrent requests whose tensors differ
only in their first (batch) dimension are joined into one runtime call of at most ``max_batch`` rows, a request
waits at most ``max_delay_s`` for company, and at most ``instances`` calls run at once (more than one only where
the runtime is thread-safe). Written here because no maintained library batches numpy feeds for an in-process
runtime: Triton and KServe are separate servers, and Ray Serve's ``@serve.batch`` needs a Ray cluster."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class BatchSettings:
    """``max_batch`` 1 turns batching off (each request is its own runtime call, as before)."""

    max_batch: int = 8
    max_delay_s: float = 0.002
    instances: int = 2  # quiet 2-core Xeon, 32 clients: 1.60x unbatched with 1 instance, 1.92-2.05x with 2


@dataclass(eq=False)  # identity: a queue lookup must never compare arrays
class _Pending:
    feeds: Feeds
    key: tuple[Any, ...] | None  # None: cannot be joined with others (a scalar input)
    rows: int
    queued_at: float
    future: asyncio.Future = field(repr=False)


def batch_key(feeds: Feeds) -> tuple[Any, ...] | None:
    """Requests with equal keys can be concatenated along axis 0: same names, dtypes and per-row shapes."""
    if any(a.ndim == 0 for a in feeds.values()):
        return None
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(feeds.items()))


def _rows(feeds: Feeds) -> int:
    return next(iter(feeds.values())).shape[0] if feeds and all(a.ndim for a in feeds.values()) else 1


class DynamicBatcher:
    """``await infer(feeds)`` answers one request's outputs; joining and splitting happen here.

    ``observe(batch_rows, queue_seconds_of_each_request, inference_seconds)`` feeds the server's metrics.
    """

    def __init__(self, infer: Callable[[Feeds], Feeds], settings: BatchSettings,
                 observe: Callable[[int, list[float], float], None] | None = None) -> None:
        self._infer = infer
        self.settings = settings
        self._observe = observe
        self._queue: deque[_Pending] = deque()
        self._ready = asyncio.Condition()
        self._workers: list[asyncio.Task] = []
        self.joinable = settings.max_batch > 1  # off for good once a model's outputs turn out not to split

    async def infer(self, feeds: Feeds) -> Feeds:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work()) for _ in range(self.settings.instances)]
        loop = asyncio.get_running_loop()
        pending = _Pending(feeds, batch_key(feeds), _rows(feeds), loop.time(), loop.create_future())
        async with self._ready:
            self._queue.append(pending)
            self._ready.notify_all()
        return await pending.future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            async with self._ready:
                await self._ready.wait_for(lambda: bool(self._queue))
                first = self._queue[0]
                deadline = first.queued_at + self.settings.max_delay_s
                while self.joinable and first.key is not None and self._rows_waiting(first.key) < \
                        self.settings.max_batch and first in self._queue:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        await asyncio.wait_for(self._ready.wait(), remaining)
                    except TimeoutError:
                        break
                batch = self._take(first)
            if batch:
                try:
                    await self._run(batch)
                except Exception as exc:  # a fault here must reach the waiting clients, not end this worker
                    for p in batch:
                        _settle(p.future, exc=exc)

    def _rows_waiting(self, key: tuple[Any, ...]) -> int:
        return sum(p.rows for p in self._queue if p.key == key)

    def _take(self, first: _Pending) -> list[_Pending]:
        """The oldest request (or, if another instance took it, the oldest left) and those that join it."""
        if not self._queue:
            return []
        head = first if first in self._queue else self._queue[0]
        batch, rows = [head], head.rows
        if self.joinable and head.key is not None:
            for p in self._queue:
                if p is not head and p.key == head.key and rows + p.rows <= self.settings.max_batch:
                    batch.append(p)
                    rows += p.rows
        for p in batch:
            self._queue.remove(p)
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        start = time.perf_counter()
        waited = [asyncio.get_running_loop().time() - p.queued_at for p in batch]
        if len(batch) == 1:
            await self._run_alone(batch[0])
        else:
            joined = {name: np.concatenate([p.feeds[name] for p in batch]) for name in batch[0].feeds}
            try:
                outputs = await asyncio.to_thread(self._infer, joined)
            except Exception:  # one bad request must fail alone, not take its batch with it
                for p in batch:
                    await self._run_alone(p)
            else:
                parts = self._split(batch, outputs)
                if parts is None:  # outputs without the batch as first dimension: never join again
                    self.joinable = False
                    for p in batch:
                        await self._run_alone(p)
                else:
                    for p, part in zip(batch, parts, strict=True):
                        _settle(p.future, part)
        if self._observe is not None:
            self._observe(sum(p.rows for p in batch), waited, time.perf_counter() - start)

    async def _run_alone(self, pending: _Pending) -> None:
        try:
            outputs = await asyncio.to_thread(self._infer, pending.feeds)
        except Exception as exc:
            _settle(pending.future, exc=exc)
        else:
            _settle(pending.future, outputs)

    @staticmethod
    def _split(batch: list[_Pending], outputs: Feeds) -> list[Feeds] | None:
        """Each request's own rows of every output; None when an output does not carry the batch first."""
        total = sum(p.rows for p in batch)
        if any(o.ndim == 0 or o.shape[0] != total for o in outputs.values()):
            return None
        parts, start = [], 0
        for p in batch:
            parts.append({name: o[start:start + p.rows] for name, o in outputs.items()})
            start += p.rows
        return parts


def _settle(future: asyncio.Future, result: Feeds | None = None, exc: BaseException | None = None) -> None:
    if future.done():  # the client went away
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
