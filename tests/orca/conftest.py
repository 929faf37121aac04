"""Fixtures for the service's tests: configurations, an in-process app and a real ``orca serve`` process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from falcon.testing import ASGIConductor

from orca.app import create_app
from orca.config import Config
from orca.migrations import migrate
from tests.postgres import free_port


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    """The session database with the schema applied."""

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await migrate(conn)

    asyncio.run(run())
    return database_url


@pytest.fixture
def db(migrated_url: str) -> str:
    """The session database, migrated and emptied for this test."""
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("TRUNCATE access_log")
    return migrated_url


@pytest.fixture
def config(db: str) -> Config:
    """A configuration for the test database with the defaults otherwise."""
    return Config(database_url=db)


@pytest.fixture
async def conductor(config: Config) -> AsyncIterator[ASGIConductor]:
    """The app in-process, its lifespan (and so its pool) open for the whole test."""
    async with ASGIConductor(create_app(config)) as conductor:
        yield conductor


def rows(url: str, query: str = "SELECT count(*) FROM access_log") -> list[tuple[Any, ...]]:
    """The rows of ``query``, read on a connection of its own."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


@dataclass
class Server:
    """An ``orca serve`` process listening on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        """Everything the process has written to stdout and stderr so far."""
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 15) -> int:
        """Send SIGTERM and wait for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def start_server(tmp_path: Path, env: dict[str, str], args: tuple[str, ...] = (), wait: bool = True) -> Server:
    """Start ``python -m orca serve`` with ``env`` and wait until ``/_livez`` answers."""
    port = free_port()
    log = tmp_path / f"orca-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCA_", "PG", "DATABASE_URL"))}
    full_env.update(env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "orca", "serve", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    if wait:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"orca serve exited with {process.returncode}:\n{server.output()}")
            try:
                if httpx.get(f"{server.base_url}/_livez", timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                time.sleep(0.05)
        process.kill()
        raise RuntimeError(f"orca serve did not answer within 20 s:\n{server.output()}")
    return server


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``orca serve`` processes; each is killed at the end of the test if it still runs."""
    started: list[Server] = []

    def _start(env: dict[str, str], args: tuple[str, ...] = (), wait: bool = True) -> Server:
        server = start_server(tmp_path, env, args, wait)
        started.append(server)
        return server

    yield _start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
