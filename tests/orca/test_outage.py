"""The database goes away while the service runs: fast 503s, a live process, and recovery with no restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.orca.conftest import Server
from tests.postgres import LocalPostgres

# The service's bounds: /_healthz answers within 2 s; a request waits at most ORCA_POOL_TIMEOUT for a
# connection. Recovery is bounded by the pool's reconnection back-off.
HEALTH_BOUND = 2.0
POOL_TIMEOUT = 1.0
RECOVERY_BOUND = 15.0


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[LocalPostgres]:
    """A server of this module's own, which its tests stop and start."""
    server = LocalPostgres()
    server.start()
    yield server
    server.destroy()


def test_outage_gives_fast_503s_and_the_service_recovers_by_itself(
    private_postgres: LocalPostgres, serve: Callable[..., Server]
) -> None:
    server = serve({"DATABASE_URL": private_postgres.url(), "ORCA_POOL_TIMEOUT": str(POOL_TIMEOUT)})
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        assert client.get("/before").status_code == 200

        private_postgres.stop()
        started = time.monotonic()
        health = client.get("/_healthz")
        health_seconds = time.monotonic() - started
        assert health.status_code == 503
        assert health.json()["status"] == "UNHEALTHY"
        assert health.json()["reason"]
        assert health_seconds < HEALTH_BOUND

        started = time.monotonic()
        logged = client.get("/during")
        assert logged.status_code == 503
        assert logged.json()["title"] == "503 Service Unavailable"
        assert logged.headers["retry-after"] == "1"
        assert time.monotonic() - started < POOL_TIMEOUT + 1.0

        assert client.get("/_livez").status_code == 200

        private_postgres.start()
        started = time.monotonic()
        while client.get("/_healthz").status_code != 200:
            assert time.monotonic() - started < RECOVERY_BOUND, "did not recover in time"
            time.sleep(0.2)
        assert client.get("/after").status_code == 200
        paths = [entry["path"] for entry in client.get("/again").json()]
        assert paths[:3] == ["/again", "/after", "/before"]
    assert server.terminate() == 0


def test_a_database_that_stops_answering_gives_503s_within_the_write_timeout_and_recovers(
    private_postgres: LocalPostgres, serve: Callable[..., Server]
) -> None:
    write_timeout = 1.5
    server = serve(
        {
            "DATABASE_URL": private_postgres.url(),
            "ORCA_POOL_TIMEOUT": str(POOL_TIMEOUT),
            "ORCA_WRITE_TIMEOUT": str(write_timeout),
            "ORCA_STATEMENT_TIMEOUT_MS": "2000",
        }
    )
    with httpx.Client(base_url=server.base_url, timeout=20) as client:
        assert client.get("/before-freeze").status_code == 200
        with private_postgres.frozen():
            started = time.monotonic()
            logged = client.get("/frozen")
            assert logged.status_code == 503
            assert time.monotonic() - started < write_timeout + 1.0
            started = time.monotonic()
            assert client.get("/_healthz").status_code == 503
            assert time.monotonic() - started < HEALTH_BOUND
            assert client.get("/_livez").status_code == 200
        started = time.monotonic()
        while client.get("/after-freeze").status_code != 200:
            assert time.monotonic() - started < RECOVERY_BOUND, "did not recover in time"
            time.sleep(0.2)
    assert server.terminate() == 0
