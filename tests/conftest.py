"""Fixtures shared by the whole suite: a real PostgreSQL and a fresh database in it.

``ORCA_TEST_DATABASE_URL`` names a server to use (CI's service container, a developer's own); when it is not
set, the suite starts its own server from pgserver's binaries and stops it at the end. Nothing is skipped
for lack of a database.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

# pgserver warns at import when XDG_RUNTIME_DIR is unset, and warnings are errors in this suite.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="orca-xdg-"))

from tests.postgres import LocalPostgres


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A connection string to a maintenance database on a real PostgreSQL server."""
    url = os.environ.get("ORCA_TEST_DATABASE_URL")
    if url:
        yield url
        return
    server = LocalPostgres()
    try:
        server.start()
        yield server.url()
    finally:
        server.destroy()


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create an empty database with a unique name, yield its connection string, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A connection string to a database created for this test session, dropped at its end."""
    with scratch_database(server_url, "orca_test") as url:
        yield url


@pytest.fixture
def fresh_database(server_url: str) -> Iterator[str]:
    """A connection string to a new, empty database (no schema), dropped after the test."""
    with scratch_database(server_url, "orca_fresh") as url:
        yield url
