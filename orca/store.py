"""The access-log store: the pool's owner and the only code that talks to PostgreSQL while serving."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout, TooManyRequests

from orca import sql
from orca.batching import GroupCommit
from orca.config import Config, mask_conninfo
from orca.migrations import migrate

logger = logging.getLogger(__name__)

# Errors that mean "the database is unreachable or overloaded right now": callers answer 503 and go on.
UNAVAILABLE_ERRORS = (psycopg.OperationalError, PoolTimeout, TooManyRequests, TimeoutError)


RECONNECT_TIMEOUT: Final = 30.0
# A connection idle for longer than this is checked (one round trip) before it is handed out.
IDLE_CHECK_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class Entry:
    """One request to log; values are already sanitised and truncated."""

    ip: str | None
    xff: str | None
    user_agent: str | None
    method: str
    path: str


class Store:
    """Logs requests and reads the log through an :class:`AsyncConnectionPool` that it opens and closes."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._credentials_rejected = False
        self._pool: AsyncConnectionPool | None = None
        self._writer: GroupCommit[Entry, bytes] = GroupCommit(
            self._write_batch,
            max_batch=config.write_batch_max,
            max_concurrent=min(config.write_concurrency, config.pool_max_size),
            max_pending=config.pool_max_waiting,
        )
        self._counting: asyncio.Future[int] | None = None
        self._last_used: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    @property
    def pool(self) -> AsyncConnectionPool:
        """The open pool. Raises ``RuntimeError`` before :meth:`open` or after :meth:`close`."""
        if self._pool is None:
            raise RuntimeError("the store is not open")
        return self._pool

    async def open(self) -> None:
        """Open the pool, wait for its first connection and apply pending migrations.

        Raises:
            psycopg_pool.PoolTimeout: no connection within the configured open timeout.
            orca.errors.MigrationError: a migration failed.
        """
        config = self._config
        assert config.database_url is not None, "the caller checks that a database is configured"
        pool = AsyncConnectionPool(
            config.database_url,
            connection_class=_watching_credentials(self._reject_credentials),
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            timeout=config.pool_timeout,
            max_waiting=config.pool_max_waiting,
            # A connection that broke while idle (a failover, a restart) is replaced before anyone gets it.
            check=self._check_if_idle,
            # A lost connection is retried with doubling delays until this many seconds have passed, then
            # given up; the next request that finds no free connection starts a fresh attempt. Bounding it
            # bounds the delays, so the pool notices a returning database within seconds, never minutes.
            reconnect_timeout=RECONNECT_TIMEOUT,
            kwargs={
                # Every statement commits on its own: one round trip per request, no open transactions.
                "autocommit": True,
                "options": f"-c statement_timeout={config.statement_timeout_ms}",
                "application_name": "orca",
                "connect_timeout": max(1, round(config.pool_timeout)),
            },
            name="orca",
            open=False,
        )
        logger.info("connecting to %s", mask_conninfo(config.database_url))
        try:
            await pool.open(wait=True, timeout=config.pool_open_timeout)
            if config.migrate_on_start:
                async with pool.connection() as conn:
                    await conn.set_autocommit(False)
                    try:
                        await migrate(conn)
                    finally:
                        await conn.set_autocommit(True)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        """Finish the writes under way, then close the pool, waiting briefly for connections in use."""
        try:
            # Each write is bounded (see _write_batch), so this wait is too; the extra second is for safety.
            await asyncio.wait_for(self._writer.drain(), self._config.write_timeout + 1.0)
        except TimeoutError:
            logger.warning("writes still under way at shutdown were abandoned")
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close(timeout=5.0)

    async def log_and_latest(self, entry: Entry) -> bytes:
        """Commit ``entry`` and return the latest entries, the new one included, as a JSON array.

        Concurrent calls share one statement and one commit (see :mod:`orca.batching`); each returns only once
        the commit that holds its entry is done.

        Raises:
            One of ``UNAVAILABLE_ERRORS``: the database is unreachable, did not commit within the write
            timeout, or too many writes are waiting.
        """
        async with asyncio.timeout(self._config.write_timeout):
            return await self._writer.submit(entry)

    async def _write_batch(self, entries: list[Entry]) -> bytes:
        params = (json.dumps([(e.ip, e.xff, e.user_agent, e.method, e.path) for e in entries]),)
        # The server cancels a statement after statement_timeout, but a server that stops answering altogether
        # (a partition, a frozen host) would hold this write, and every batch queued behind it, for as long as
        # TCP takes to notice. Past this bound psycopg cancels the query and drops the connection. It is the
        # callers' own bound, so that as little as possible commits after they were told 503.
        async with asyncio.timeout(self._config.write_timeout), self.pool.connection() as conn:
            cur = await conn.execute(sql.LOG_AND_LATEST, params)
            row = await cur.fetchone()
            self._last_used[conn] = time.monotonic()
        assert row is not None
        return str(row[0]).encode()

    @property
    def credentials_rejected(self) -> bool:
        """Whether the database has refused this process's credentials for a new connection.

        RDS rotates the password it manages (weekly by default) and ECS injects it only when a task starts:
        running connections keep working, every new one is refused. Only a new task gets the new password.
        """
        return self._credentials_rejected

    def _reject_credentials(self) -> None:
        if not self._credentials_rejected:
            self._credentials_rejected = True
            logger.error("the database rejected the credentials; they may have been rotated")

    async def _check_if_idle(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # Checking every connection before use costs a round trip per request, doubling the database's work.
        # A connection used moments ago is almost surely fine (and if not, that request fails and the pool
        # drops it); one that sat idle may have been cut by a failover or a restart, so it is checked.
        if time.monotonic() - self._last_used.get(conn, 0.0) > IDLE_CHECK_SECONDS:
            await AsyncConnectionPool.check_connection(conn)

    async def count(self) -> int:
        """The number of logged entries, bounded by the health timeout.

        The count is exact as of the query that read it. Callers that arrive while that query is under way share
        its answer instead of queueing for connections of their own, so a burst of health checks costs one
        round trip, and no answer is older than the moment its caller arrived by more than one round trip.

        Raises:
            One of ``UNAVAILABLE_ERRORS``: no answer within the health timeout.
        """
        if self._counting is None:
            task = asyncio.ensure_future(self._count_once())
            task.add_done_callback(self._count_done)
            self._counting = task
        async with asyncio.timeout(self._config.health_timeout):
            # Shielded: a caller that gives up does not cancel the query for the others.
            return await asyncio.shield(self._counting)

    async def _count_once(self) -> int:
        timeout = self._config.health_timeout
        async with asyncio.timeout(timeout), self.pool.connection(timeout=timeout) as conn:
            cur = await conn.execute(sql.COUNT_ENTRIES)
            row = await cur.fetchone()
            self._last_used[conn] = time.monotonic()
        assert row is not None
        return int(row[0])

    def _count_done(self, task: asyncio.Future[int]) -> None:
        self._counting = None
        if not task.cancelled():
            task.exception()  # retrieved here, so that a failure nobody waited for is not reported as lost


def _watching_credentials(rejected: Callable[[], None]) -> type[psycopg.AsyncConnection[Any]]:
    """A connection class that calls ``rejected`` when the server refuses the credentials."""

    class WatchingConnection(psycopg.AsyncConnection[Any]):
        @classmethod
        async def connect(cls, *args: Any, **kwargs: Any) -> WatchingConnection:  # type: ignore[override]
            try:
                return await super().connect(*args, **kwargs)  # type: ignore[return-value]
            except psycopg.OperationalError as e:
                # libpq gives no SQLSTATE for a failed connection: its message is all there is.
                if "authentication failed" in str(e):
                    rejected()
                raise

    return WatchingConnection
