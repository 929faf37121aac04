"""The HTTP contract, exercised in-process with the app's lifespan open and a real database behind it."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from falcon.testing import ASGIConductor

from orca.app import create_app
from orca.config import Config
from orca.sanitize import MAX_PATH, MAX_USER_AGENT, MAX_XFF
from tests.orca.conftest import rows

pytestmark = pytest.mark.anyio


async def test_any_path_is_logged_and_answered_with_its_entry(conductor: ASGIConductor, db: str) -> None:
    result = await conductor.simulate_get("/some/page", headers={"User-Agent": "probe/1.0"})
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/json"
    [entry] = result.json
    assert entry["path"] == "/some/page"
    assert entry["method"] == "GET"
    assert entry["user_agent"] == "probe/1.0"
    assert entry["xff"] is None
    assert set(entry) == {"ip", "xff", "user_agent", "method", "path", "time"}
    assert rows(db) == [(1,)]


async def test_answer_is_the_ten_latest_entries_newest_first(conductor: ASGIConductor) -> None:
    for i in range(12):
        await conductor.simulate_get(f"/page/{i}")
    result = await conductor.simulate_get("/page/last")
    paths = [entry["path"] for entry in result.json]
    assert paths == ["/page/last"] + [f"/page/{i}" for i in range(11, 2, -1)]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_is_logged(conductor: ASGIConductor, method: str) -> None:
    result = await conductor.simulate_request(method, "/anything", body=b"ignored")
    assert result.status_code == 200
    assert result.json[0]["method"] == method


async def test_head_gets_headers_only_and_is_logged(conductor: ASGIConductor, db: str) -> None:
    result = await conductor.simulate_head("/quiet")
    assert result.status_code == 200
    assert result.content == b""
    assert rows(db, "SELECT method, path FROM access_log") == [("HEAD", "/quiet")]


async def test_time_is_iso8601_utc(conductor: ASGIConductor) -> None:
    result = await conductor.simulate_get("/when")
    stamp = result.json[0]["time"]
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - parsed) < timedelta(minutes=1)


async def test_healthz_reports_the_exact_number_of_entries(conductor: ASGIConductor) -> None:
    assert (await conductor.simulate_get("/_healthz")).json == {"status": "HEALTHY", "count": 0}
    for _ in range(3):
        await conductor.simulate_get("/x")
    assert (await conductor.simulate_get("/_healthz")).json == {"status": "HEALTHY", "count": 3}


async def test_healthz_count_follows_deletes_and_truncates(conductor: ASGIConductor, db: str) -> None:
    for _ in range(4):
        await conductor.simulate_get("/x")
    rows(db, "DELETE FROM access_log WHERE id = (SELECT min(id) FROM access_log) RETURNING id")
    assert (await conductor.simulate_get("/_healthz")).json["count"] == 3
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("TRUNCATE access_log")
    assert (await conductor.simulate_get("/_healthz")).json["count"] == 0


async def test_service_endpoints_are_not_logged(conductor: ASGIConductor, db: str) -> None:
    assert (await conductor.simulate_get("/_livez")).json == {"status": "ALIVE"}
    await conductor.simulate_get("/_healthz")
    assert rows(db) == [(0,)]


async def test_wrong_method_on_a_service_endpoint_is_a_405_with_a_json_body(conductor: ASGIConductor) -> None:
    result = await conductor.simulate_post("/_healthz")
    assert result.status_code == 405
    assert result.json["title"] == "405 Method Not Allowed"


async def test_spoofed_forwarded_for_never_chooses_the_logged_ip(conductor: ASGIConductor) -> None:
    result = await conductor.simulate_get("/spoof", headers={"X-Forwarded-For": "6.6.6.6"}, remote_addr="198.51.100.7")
    entry = result.json[0]
    assert entry["ip"] == "198.51.100.7"
    assert entry["xff"] == "6.6.6.6"


async def test_behind_a_trusted_proxy_the_client_is_the_last_untrusted_hop(config: Config) -> None:
    trusted = (ipaddress.ip_network("10.0.0.0/16"),)
    async with ASGIConductor(create_app(replace(config, trusted_proxies=trusted))) as conductor:
        result = await conductor.simulate_get(
            "/via-alb", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}, remote_addr="10.0.1.20"
        )
    assert result.json[0]["ip"] == "203.0.113.9"
    assert result.json[0]["xff"] == "6.6.6.6, 203.0.113.9"


async def test_request_id_is_echoed_preferring_the_load_balancer_trace(conductor: ASGIConductor) -> None:
    mine = await conductor.simulate_get("/r", headers={"X-Request-Id": "req-123"})
    assert mine.headers["x-request-id"] == "req-123"
    traced = await conductor.simulate_get(
        "/r", headers={"X-Request-Id": "req-123", "X-Amzn-Trace-Id": "Root=1-abc-def"}
    )
    assert traced.headers["x-request-id"] == "Root=1-abc-def"
    generated = {(await conductor.simulate_get("/r")).headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3
    assert all(len(rid) >= 16 for rid in generated)


async def test_oversized_values_are_truncated_to_their_limits(conductor: ASGIConductor, db: str) -> None:
    result = await conductor.simulate_get(
        "/" + "p" * 5000, headers={"User-Agent": "u" * 5000, "X-Forwarded-For": "1.2.3.4," * 500}
    )
    assert result.status_code == 200
    [(path, user_agent, xff)] = rows(db, "SELECT path, user_agent, xff FROM access_log")
    assert (len(path), len(user_agent), len(xff)) == (MAX_PATH, MAX_USER_AGENT, MAX_XFF)


async def test_nul_bytes_in_path_and_headers_are_stored_replaced(conductor: ASGIConductor, db: str) -> None:
    result = await conductor.simulate_get("/a\x00b", headers={"User-Agent": "x\x00y"})
    assert result.status_code == 200
    assert rows(db, "SELECT path, user_agent FROM access_log") == [("/a\ufffdb", "x\ufffdy")]
