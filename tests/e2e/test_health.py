"""The service's own endpoints: shallow liveness and the deep health check. Neither is logged."""

from __future__ import annotations

import time

import httpx

from tests.e2e.support import entries

# The count is exact at every commit; allow a deployment with several tasks a moment anyway.
COUNT_WAIT_S = 5.0


def test_livez_answers_alive(client: httpx.Client) -> None:
    response = client.get("/_livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ALIVE"}


def test_healthz_answers_healthy_with_a_count(client: httpx.Client) -> None:
    response = client.get("/_healthz")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "HEALTHY"
    assert isinstance(body["count"], int)
    assert body["count"] >= 0


def test_healthz_count_grows_with_logged_requests(client: httpx.Client, token: str) -> None:
    before = client.get("/_healthz").json()["count"]
    for n in range(3):
        entries(client.get(f"/{token}/{n}"))

    deadline = time.monotonic() + COUNT_WAIT_S
    while (after := client.get("/_healthz").json()["count"]) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.2)

    assert after >= before + 3


def test_health_endpoints_are_not_logged(client: httpx.Client, token: str) -> None:
    client.get("/_livez", headers={"User-Agent": f"orca-e2e/{token}"})
    client.get("/_healthz", headers={"User-Agent": f"orca-e2e/{token}"})

    latest = entries(client.get(f"/{token}"))

    assert not [e for e in latest if e["user_agent"] == f"orca-e2e/{token}"]


def test_head_on_livez_answers_without_a_body(client: httpx.Client) -> None:
    response = client.head("/_livez")

    assert response.status_code == 200
    assert response.content == b""
