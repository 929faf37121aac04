"""Every SQL statement the service runs, as named constants with ``%s`` parameters."""

from __future__ import annotations

from typing import Final

# How many entries a logging request answers with.
LATEST_LIMIT: Final = 10

# One round trip, one statement, one implicit transaction: insert a batch of requests, then answer with the
# ten latest entries, the new ones included, already encoded as a JSON array by the server. A data-modifying
# CTE's rows are not visible to the rest of its statement, so the new rows come from RETURNING and the older
# ones from the table.
# The batch is one parameter, a JSON array of [ip, xff, user_agent, method, path] rows: one prepared statement
# serves every batch size, and encoding it is one call into the C JSON encoder (measured about 6% more
# requests/s than five typed arrays, which psycopg dumps element by element in Python).
# ``ORDER BY id DESC LIMIT n`` on the identity key is a backward scan of the primary-key index: constant cost.
# (The time format quotes its colons so that pgbench, which runs this statement in the benchmark, does not read
# ":MI" as one of its variables.)
LOG_AND_LATEST: Final = f"""
WITH new AS (
    INSERT INTO access_log (ip, xff, user_agent, method, path)
    SELECT (e->>0)::inet, e->>1, e->>2, e->>3, e->>4 FROM json_array_elements(%s::json) AS e
    RETURNING id, logged_at, ip, xff, user_agent, method, path
), latest AS (
    (SELECT * FROM new ORDER BY id DESC LIMIT {LATEST_LIMIT})
    UNION ALL
    (SELECT id, logged_at, ip, xff, user_agent, method, path FROM access_log ORDER BY id DESC LIMIT {LATEST_LIMIT})
)
SELECT coalesce(json_agg(json_build_object(
    'ip', host(ip),
    'xff', xff,
    'user_agent', user_agent,
    'method', method,
    'path', path,
    'time', to_char(logged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24":"MI":"SS.US"Z"')
) ORDER BY id DESC), '[]')::text
FROM (SELECT * FROM latest ORDER BY id DESC LIMIT {LATEST_LIMIT}) AS t
"""

# The exact number of entries, kept by triggers (see migration 0001): reads sixteen rows, never the log.
COUNT_ENTRIES: Final = "SELECT coalesce(sum(n), 0)::bigint FROM access_log_count"

# Migrations: one advisory lock serialises every process that migrates the same database.
MIGRATION_LOCK_KEY: Final = 0x6F726361  # "orca"
ACQUIRE_MIGRATION_LOCK: Final = "SELECT pg_advisory_xact_lock(%s)"
CREATE_MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
APPLIED_MIGRATIONS: Final = "SELECT version FROM schema_migrations"
RECORD_MIGRATION: Final = "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)"
