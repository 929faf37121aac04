"""Group commit: alone when the database is free, batched while it is busy, errors shared by their batch."""

from __future__ import annotations

import asyncio

import pytest
from psycopg_pool import TooManyRequests

from orca.batching import GroupCommit

pytestmark = pytest.mark.anyio


class GatedFlush:
    """A flush that records its batches and finishes only when the test opens the gate."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()

    async def __call__(self, batch: list[int]) -> str:
        self.batches.append(batch)
        await self.gate.wait()
        return f"flushed {batch}"


async def test_a_lone_item_is_flushed_at_once_alone() -> None:
    flush = GatedFlush()
    flush.gate.set()
    writer = GroupCommit(flush, max_batch=10, max_concurrent=1, max_pending=10)
    assert await writer.submit(1) == "flushed [1]"
    assert flush.batches == [[1]]


async def test_items_arriving_while_every_flush_is_busy_go_together_in_the_next() -> None:
    flush = GatedFlush()
    writer = GroupCommit(flush, max_batch=10, max_concurrent=1, max_pending=10)
    first = asyncio.create_task(writer.submit(0))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(writer.submit(i)) for i in range(1, 5)]
    await asyncio.sleep(0)
    assert flush.batches == [[0]]
    flush.gate.set()
    assert await first == "flushed [0]"
    assert await asyncio.gather(*waiting) == ["flushed [1, 2, 3, 4]"] * 4
    assert flush.batches == [[0], [1, 2, 3, 4]]


async def test_batches_are_cut_at_their_maximum_size() -> None:
    flush = GatedFlush()
    writer = GroupCommit(flush, max_batch=2, max_concurrent=1, max_pending=10)
    tasks = [asyncio.create_task(writer.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    flush.gate.set()
    await asyncio.gather(*tasks)
    assert flush.batches == [[0], [1, 2], [3, 4]]


async def test_a_failed_flush_fails_every_item_of_its_batch_and_no_other() -> None:
    calls = 0

    async def flaky(batch: list[int]) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise ConnectionError("database went away")
        return "ok"

    writer = GroupCommit(flaky, max_batch=10, max_concurrent=1, max_pending=10)
    tasks = [asyncio.create_task(writer.submit(i)) for i in range(3)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], ConnectionError)
    assert results[1:] == ["ok", "ok"]


async def test_too_many_waiting_items_are_refused_at_once() -> None:
    flush = GatedFlush()
    writer = GroupCommit(flush, max_batch=10, max_concurrent=1, max_pending=2)
    tasks = [asyncio.create_task(writer.submit(i)) for i in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(TooManyRequests):
        await writer.submit(99)
    flush.gate.set()
    await asyncio.gather(*tasks)


async def test_drain_waits_for_flushes_under_way() -> None:
    flush = GatedFlush()
    writer = GroupCommit(flush, max_batch=10, max_concurrent=2, max_pending=10)
    task = asyncio.create_task(writer.submit(1))
    await asyncio.sleep(0)
    drained = asyncio.create_task(writer.drain())
    await asyncio.sleep(0.01)
    assert not drained.done()
    flush.gate.set()
    await drained
    assert task.done()


async def test_zero_max_pending_means_no_limit() -> None:
    flush = GatedFlush()
    writer = GroupCommit(flush, max_batch=1000, max_concurrent=1, max_pending=0)
    tasks = [asyncio.create_task(writer.submit(i)) for i in range(500)]
    await asyncio.sleep(0)
    flush.gate.set()
    assert len(await asyncio.gather(*tasks)) == 500


async def test_an_item_whose_caller_gave_up_before_its_flush_is_neither_written_nor_counted() -> None:
    flush = GatedFlush()
    writer = GroupCommit(flush, max_batch=10, max_concurrent=1, max_pending=2)
    first = asyncio.create_task(writer.submit(0))
    await asyncio.sleep(0)
    abandoned = [asyncio.create_task(writer.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    for task in abandoned:
        task.cancel()
    await asyncio.gather(*abandoned, return_exceptions=True)
    kept = asyncio.create_task(writer.submit(3))  # room again: the abandoned items no longer count
    await asyncio.sleep(0)
    flush.gate.set()
    await asyncio.gather(first, kept)
    assert flush.batches == [[0], [3]]
