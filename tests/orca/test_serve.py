"""``orca serve`` as a real process: concurrency, logs, SIGTERM and refusals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.orca.conftest import Server, rows


def test_concurrent_requests_each_commit_their_row(db: str, serve: Callable[..., Server]) -> None:
    server = serve({"DATABASE_URL": db})

    async def hammer() -> list[int]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client:
            answers = await asyncio.gather(*(client.get(f"/c/{i}") for i in range(200)))
        return [a.status_code for a in answers]

    assert asyncio.run(hammer()) == [200] * 200
    assert rows(db) == [(200,)]
    assert rows(db, "SELECT count(DISTINCT path) FROM access_log") == [(200,)]
    assert httpx.get(f"{server.base_url}/_healthz").json() == {"status": "HEALTHY", "count": 200}


def test_one_json_line_per_request_and_never_the_password(db: str, serve: Callable[..., Server]) -> None:
    # Trust authentication ignores the password, so a real one can be passed and looked for in the output.
    url = make_conninfo(db, password="s3cret-pw")
    server = serve({"DATABASE_URL": url})
    httpx.get(f"{server.base_url}/logged", headers={"X-Request-Id": "rid-42"})
    assert server.terminate() == 0
    output = server.output()
    assert "s3cret-pw" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    [access] = [line for line in lines if line.get("path") == "/logged"]
    assert access["method"] == "GET"
    assert access["status"] == 200
    assert access["request_id"] == "rid-42"
    assert access["client_ip"] == "127.0.0.1"
    assert access["duration_ms"] >= 0
    assert {"time", "level", "message"} <= set(access)


def test_sigterm_finishes_requests_in_flight_then_exits_0(db: str, serve: Callable[..., Server]) -> None:
    # Five write slots: each request waits on the lock in a statement of its own, so all five can be seen.
    server = serve({"DATABASE_URL": db, "ORCA_WRITE_CONCURRENCY": "5"})
    results: list[int] = []
    with psycopg.connect(db) as blocker:
        # Hold inserts back so that the requests are in flight when SIGTERM arrives.
        blocker.execute("LOCK TABLE access_log IN SHARE ROW EXCLUSIVE MODE")

        def request(i: int) -> None:
            results.append(httpx.get(f"{server.base_url}/inflight/{i}", timeout=20).status_code)

        threads = [threading.Thread(target=request, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        _wait_for(lambda: _waiting_on_lock(db) == 5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # let the server stop accepting before the lock goes
        blocker.rollback()
    for thread in threads:
        thread.join(20)
    assert server.process.wait(15) == 0
    assert results == [200] * 5
    assert rows(db) == [(5,)]


def test_serve_without_a_database_refuses_with_one_line() -> None:
    result = _orca("serve", env={})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no database configured" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "eighty"}, "PORT must be an integer"),
        ({"ORCA_TRUSTED_PROXIES": "everyone"}, "ORCA_TRUSTED_PROXIES"),
        ({"ORCA_POOL_MAX_SIZE": "0"}, "ORCA_POOL_MAX_SIZE"),
    ],
)
def test_invalid_configuration_exits_2_with_one_line(env: dict[str, str], message: str) -> None:
    result = _orca("serve", env={"DATABASE_URL": "dbname=x", **env})
    assert result.returncode == 2
    assert result.stderr.startswith("orca: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_invalid_option_exits_2() -> None:
    result = _orca("serve", "--port", "0", env={"DATABASE_URL": "dbname=x"})
    assert result.returncode == 2
    assert "must be 1 or more" in result.stderr


def test_migrate_applies_the_schema_once(fresh_database: str) -> None:
    first = _orca("migrate", env={"DATABASE_URL": fresh_database})
    assert (first.returncode, first.stdout.splitlines()[-1]) == (0, "applied 0001_access_log")
    again = _orca("migrate", env={"DATABASE_URL": fresh_database})
    assert (again.returncode, again.stdout.splitlines()[-1]) == (0, "schema is up to date")


def test_four_processes_migrating_at_once_apply_each_migration_once(fresh_database: str) -> None:
    env = _env({"DATABASE_URL": fresh_database})
    processes = [
        subprocess.Popen([sys.executable, "-m", "orca", "migrate"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].splitlines()[-1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0]
    assert sorted(outputs) == ["applied 0001_access_log"] + ["schema is up to date"] * 3
    assert rows(fresh_database, "SELECT version FROM schema_migrations") == [(1,)]


def test_migrate_against_an_unreachable_database_exits_1_with_one_line() -> None:
    result = _orca("migrate", env={"DATABASE_URL": "postgresql://app:s3cret@127.0.0.1:1/orca"})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "cannot connect" in result.stderr
    assert "s3cret" not in result.stderr


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCA_", "PG", "DATABASE_URL"))}
    env.update(extra)
    return env


def _orca(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orca", *args], env=_env(env), capture_output=True, text=True, timeout=60
    )


def _waiting_on_lock(db: str) -> int:
    dbname = conninfo_to_dict(db)["dbname"]
    [(count,)] = rows(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        f"AND datname = '{dbname}' AND application_name = 'orca'",
    )
    return int(count)


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
