"""The access-log store: the pool's owner and the only code that talks to PostgreSQL while serving."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout, TooManyRequests

from orca import sql
from orca.config import Config, mask_conninfo
from orca.migrations import migrate

logger = logging.getLogger(__name__)

# Errors that mean "the database is unreachable or overloaded right now": callers answer 503 and go on.
UNAVAILABLE_ERRORS = (psycopg.OperationalError, PoolTimeout, TooManyRequests, TimeoutError)


RECONNECT_TIMEOUT: Final = 30.0


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
        self._pool: AsyncConnectionPool | None = None

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
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            timeout=config.pool_timeout,
            max_waiting=config.pool_max_waiting,
            # A connection that broke while idle (a failover, a restart) is replaced before anyone gets it.
            check=AsyncConnectionPool.check_connection,
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
        """Close the pool, waiting briefly for connections in use to be returned."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close(timeout=5.0)

    async def log_and_latest(self, entry: Entry) -> bytes:
        """Commit ``entry`` and return the latest entries, the new one included, as a JSON array.

        Raises:
            One of ``UNAVAILABLE_ERRORS``: the database is unreachable or every connection is busy.
        """
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                sql.LOG_AND_LATEST, (entry.ip, entry.xff, entry.user_agent, entry.method, entry.path)
            )
            row = await cur.fetchone()
        assert row is not None
        return str(row[0]).encode()

    async def count(self) -> int:
        """The exact number of logged entries, bounded by the health timeout.

        Raises:
            One of ``UNAVAILABLE_ERRORS``: no answer within the health timeout.
        """
        timeout = self._config.health_timeout
        async with asyncio.timeout(timeout):
            async with self.pool.connection(timeout=timeout) as conn:
                cur = await conn.execute(sql.COUNT_ENTRIES)
                row = await cur.fetchone()
        assert row is not None
        return int(row[0])
