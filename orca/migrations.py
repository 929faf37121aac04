"""Schema migrations: numbered SQL files in ``orca/schema``, applied in order, each once.

All pending migrations are applied in one transaction under a PostgreSQL advisory lock, so that any number of
processes starting together migrate the database exactly once and none sees a half-built schema.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from orca import sql
from orca.errors import MigrationError

logger = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    found = []
    for entry in resources.files("orca.schema").iterdir():
        match = _FILENAME.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


async def migrate(conn: psycopg.AsyncConnection[Any]) -> list[Migration]:
    """Apply the pending migrations on ``conn``; return those applied (none when the schema is current).

    Raises:
        MigrationError: a migration failed; nothing of the run is kept.
    """
    pending: list[Migration] = []
    try:
        async with conn.transaction():
            await conn.execute(sql.ACQUIRE_MIGRATION_LOCK, (sql.MIGRATION_LOCK_KEY,))
            await conn.execute(sql.CREATE_MIGRATIONS_TABLE)
            cur = await conn.execute(sql.APPLIED_MIGRATIONS)
            applied = {int(row[0]) for row in await cur.fetchall()}
            pending = [m for m in load_migrations() if m.version not in applied]
            for migration in pending:
                logger.info("applying migration %04d_%s", migration.version, migration.name)
                await conn.execute(migration.sql.encode())
                await conn.execute(sql.RECORD_MIGRATION, (migration.version, migration.name))
    except psycopg.Error as e:
        raise MigrationError(f"migration failed: {e}") from e
    return pending
