"""Group commit: concurrent log entries are written by one statement and one commit, answered together.

A commit waits for the write-ahead log to reach the disk, so committing every request on its own caps the
service at the database's commit rate (about a thousand a second on a small machine). Here, a request that
finds a free flush slot is written at once, alone, with no added delay; requests that arrive while every slot
is busy queue up and go together in the next flush. Under load, batches grow by themselves and the commit rate
stays low. Each request's answer is sent only after the commit that holds its row.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from psycopg_pool import TooManyRequests

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Feeds submitted items to ``flush`` in batches, at most ``max_concurrent`` flushes at a time.

    At most ``max_pending`` items wait for a flush (0: no limit, as psycopg_pool's ``max_waiting``).
    """

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[R]],
        *,
        max_batch: int,
        max_concurrent: int,
        max_pending: int,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._max_concurrent = max_concurrent
        self._max_pending = max_pending
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """Write ``item`` with the next flush and return that flush's result.

        Raises:
            psycopg_pool.TooManyRequests: ``max_pending`` items are already waiting.
            Whatever ``flush`` raised for the batch that held ``item``.
        """
        if self._max_pending and len(self._pending) >= self._max_pending:
            raise TooManyRequests(f"{len(self._pending)} entries already wait to be written")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._active < self._max_concurrent:
            self._start_flush()
        try:
            return await future
        except asyncio.CancelledError:
            # The caller gave up (a timeout, a client gone) before any flush took the item: it is withdrawn,
            # neither written later nor counted against max_pending. Once a flush holds it, it may still commit.
            with contextlib.suppress(ValueError):
                self._pending.remove((item, future))
            raise

    async def drain(self) -> None:
        """Wait until every flush under way has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start_flush(self) -> None:
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        if not batch:
            return
        self._active += 1
        task = asyncio.create_task(self._run(batch))
        # The loop keeps only weak references to tasks: hold this one until it is done.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            result = await self._flush([item for item, _ in batch])
        except Exception as e:  # every waiter of the batch gets the batch's error
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
        else:
            for _, future in batch:
                if not future.done():  # a waiter whose client went away was cancelled
                    future.set_result(result)
        finally:
            self._active -= 1
            if self._pending and self._active < self._max_concurrent:
                self._start_flush()
