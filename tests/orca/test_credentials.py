"""Rotated database credentials: liveness fails, so that a new task starts with the new secret."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from tests.orca.conftest import Server
from tests.postgres import LocalPostgres

OLD, NEW = "first-password", "rotated-password"


@pytest.fixture
def password_postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres(password=OLD)
    server.start()
    yield server
    server.destroy()


def test_rejected_credentials_fail_liveness_so_that_a_new_task_replaces_this_one(
    password_postgres: LocalPostgres, serve: Callable[..., Server]
) -> None:
    server = serve({"DATABASE_URL": password_postgres.url(password=OLD), "ORCA_POOL_MIN_SIZE": "1"})
    assert httpx.get(f"{server.base_url}/before-rotation").status_code == 200

    # What a rotation looks like from the service: the password changes, and its connections go away in time.
    with psycopg.connect(password_postgres.url(password=OLD), autocommit=True) as admin:
        admin.execute(f"ALTER ROLE postgres PASSWORD '{NEW}'")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'orca'")

    # The next request finds its connection gone and a new one refused.
    assert httpx.get(f"{server.base_url}/after-rotation").status_code == 503
    deadline = time.monotonic() + 10
    while (live := httpx.get(f"{server.base_url}/_livez")).status_code == 200:
        assert time.monotonic() < deadline, "liveness never noticed the refused credentials"
        time.sleep(0.1)
    assert live.status_code == 503
    assert live.json()["status"] == "STALE_CREDENTIALS"
    assert server.terminate() == 0
    output = server.output()
    assert "the database rejected the credentials" in output
    assert NEW not in output
    assert OLD not in output
