"""The searches an API process runs at once: a lane of its own, apart from every other blocking route.

A search is blocking work (the encoder, the vector store, the confidence model), so async routes hand
it to a thread. In anyio's shared pool (40 threads) 32 concurrent searches ran as 32 threads taking
turns at one GIL on two cores, and the unluckiest waited on all the others. Through this lane at most
``concurrency`` run at once and the rest queue in arrival order without holding a thread: 32 HTTP
clients on two cores, alternated with the shared pool twice, p95 297 · 307 → 218 · 232 ms at 164 · 158 →
178 · 173 searches/s (docs/benchmarks.md). The questions that do run together still share one encoder
pass (backend/encoder/query_batcher.py), so the bound stays well above one: 4 searches at once gave
the encoder too few to batch (142–161/s), 8 and 16 about the same tail, 16 the better rate.

The time a search waited here is ``kbchat_search_queue_seconds``: when it grows, the process is
saturated and wants another replica, not a bigger lane.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import anyio

from backend.telemetry import Telemetry

T = TypeVar("T")
PER_CORE = 8
"""Searches at once per core when the setting is empty (at least :data:`AT_LEAST`)."""
AT_LEAST = 16


def default_concurrency(cores: int | None = None) -> int:
    """``PER_CORE`` searches per core, at least ``AT_LEAST``: 16 on a two-core machine (the bound measured
    here), 128 on a 16-core GPU host, whose encoder wants large batches."""
    return max(AT_LEAST, PER_CORE * (cores or os.cpu_count() or 1))


class SearchLane:
    """Runs blocking search work on worker threads, at most ``concurrency`` at once, first come first
    served."""

    def __init__(self, concurrency: int | None = None, telemetry: Telemetry | None = None) -> None:
        self.concurrency = concurrency or default_concurrency()
        self._limiter = anyio.CapacityLimiter(self.concurrency)
        self._telemetry = telemetry

    @property
    def running(self) -> int:
        return int(self._limiter.borrowed_tokens)

    @property
    def waiting(self) -> int:
        return self._limiter.statistics().tasks_waiting

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` on a thread once the lane has room; its result (or its exception)."""
        queued = time.perf_counter()

        def timed() -> T:
            if self._telemetry is not None:
                self._telemetry.search_queue.observe(time.perf_counter() - queued)
            return work(*args)

        return await anyio.to_thread.run_sync(timed, limiter=self._limiter)
