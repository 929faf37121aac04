"""The HTTP contract: any path, any method is logged and answered with the ten latest entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.support import ENTRY_KEYS, LATEST, entries, find_own_entry

# Clocks of a remote deployment and of the test runner may differ a little.
CLOCK_SKEW = timedelta(minutes=5)


def test_any_path_answers_a_json_list_of_at_most_ten_entries(client: httpx.Client, token: str) -> None:
    latest = entries(client.get(f"/{token}/some/where"))

    assert 1 <= len(latest) <= LATEST
    for entry in latest:
        assert set(entry) == ENTRY_KEYS


def test_the_request_itself_is_logged_with_its_method_path_and_user_agent(client: httpx.Client, token: str) -> None:
    response = client.get(f"/{token}/orders", headers={"User-Agent": f"orca-e2e/{token}"})

    entry = find_own_entry(response, token)
    assert entry["method"] == "GET"
    assert entry["path"] == f"/{token}/orders"
    assert entry["user_agent"] == f"orca-e2e/{token}"


def test_the_root_path_is_logged_too(client: httpx.Client, token: str) -> None:
    response = client.get("/", headers={"User-Agent": f"orca-e2e/{token}"})

    latest = entries(response)
    assert any(e["path"] == "/" and e["user_agent"] == f"orca-e2e/{token}" for e in latest), latest


def test_time_is_iso8601_utc_and_recent(client: httpx.Client, token: str) -> None:
    entry = find_own_entry(client.get(f"/{token}"), token)

    logged = datetime.fromisoformat(entry["time"])
    assert logged.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - logged) < CLOCK_SKEW


def test_entries_are_newest_first(client: httpx.Client, token: str) -> None:
    for n in range(3):
        client.get(f"/{token}/{n}")

    latest = entries(client.get(f"/{token}/last"))

    times = [datetime.fromisoformat(entry["time"]) for entry in latest]
    assert times == sorted(times, reverse=True)
    mine = [entry["path"] for entry in latest if token in entry["path"]]
    # Other clients' requests may push the oldest of ours out of the ten, never reorder them.
    assert mine
    assert mine == [f"/{token}/last", f"/{token}/2", f"/{token}/1", f"/{token}/0"][: len(mine)]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_is_logged(client: httpx.Client, token: str, method: str) -> None:
    response = client.request(method, f"/{token}", content=b'{"ignored": true}')

    assert find_own_entry(response, token)["method"] == method


def test_head_gets_headers_only_and_is_logged(client: httpx.Client, token: str) -> None:
    response = client.head(f"/{token}/head")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"].startswith("application/json")
    latest = entries(client.get(f"/{token}/after-head"))
    assert any(e["path"] == f"/{token}/head" and e["method"] == "HEAD" for e in latest), latest


def test_the_query_string_does_not_hide_the_request(client: httpx.Client, token: str) -> None:
    response = client.get(f"/{token}/search", params={"q": "x y", "page": "2"})

    assert find_own_entry(response, token)["path"].startswith(f"/{token}/search")


def test_responses_carry_a_request_id(client: httpx.Client, token: str) -> None:
    for path in (f"/{token}", "/_livez", "/_healthz"):
        assert client.get(path).headers.get("x-request-id"), path
