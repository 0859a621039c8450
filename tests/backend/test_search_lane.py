"""The search lane: at most ``concurrency`` searches run at once, the rest queue without a thread and
run in arrival order once there is room; a failing search's exception reaches its caller."""

from __future__ import annotations

import threading

import anyio
import pytest

from backend.retrieval.lane import SearchLane, default_concurrency
from backend.telemetry import Telemetry


def test_the_lane_runs_at_most_its_bound_and_the_rest_wait_their_turn() -> None:
    lane = SearchLane(2, Telemetry())
    inside, most, order = 0, 0, []
    guard, release = threading.Lock(), threading.Event()

    def work(i: int) -> int:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
            order.append(i)
        release.wait(timeout=30)
        with guard:
            inside -= 1
        return i * 10

    async def main() -> list[int]:
        results: list[int] = []

        async def one(i: int) -> None:
            results.append(await lane.run(work, i))

        async with anyio.create_task_group() as group:
            for i in range(6):
                group.start_soon(one, i)
                await anyio.wait_all_tasks_blocked()  # each queued before the next: a known arrival order
            with anyio.fail_after(30):
                while not (lane.running == 2 and lane.waiting == 4):
                    await anyio.sleep(0.01)
            assert inside == 2 and order == [0, 1]  # the other four hold no thread and have not started
            release.set()
        return results

    results = anyio.run(main)
    assert most == 2
    assert sorted(results) == [0, 10, 20, 30, 40, 50]
    assert order[:2] == [0, 1] and sorted(order[2:]) == [2, 3, 4, 5]
    assert lane.running == 0 and lane.waiting == 0


def test_a_failing_search_raises_to_its_caller_and_frees_its_place() -> None:
    lane = SearchLane(1)

    def broken() -> None:
        raise ValueError("the vector store said no")

    async def main() -> int:
        with pytest.raises(ValueError, match="said no"):
            await lane.run(broken)
        return await lane.run(lambda: 7)

    assert anyio.run(main) == 7


def test_the_default_bound_scales_with_the_cores() -> None:
    assert default_concurrency(1) == 16
    assert default_concurrency(2) == 16
    assert default_concurrency(16) == 128
    assert SearchLane(3).concurrency == 3
