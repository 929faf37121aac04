"""``--embedded-db``: a laptop with nothing set up gets a real PostgreSQL whose data survives restarts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.orca.conftest import Server


def test_embedded_database_serves_and_keeps_its_data_across_restarts(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    state = tmp_path / "state"
    args = ("--embedded-db", "--state-dir", str(state))

    first = serve({}, args)
    assert httpx.get(f"{first.base_url}/first-run").status_code == 200
    assert first.terminate() == 0
    assert (state / "pgdata" / "PG_VERSION").exists()

    second = serve({}, args)
    paths = [entry["path"] for entry in httpx.get(f"{second.base_url}/second-run").json()]
    assert paths == ["/second-run", "/first-run"]
    assert second.terminate() == 0
    # The server started for the process is stopped with it.
    assert not (state / "pgdata" / "postmaster.pid").exists()
