"""Hostile and malformed input: never a 5xx, and the request is still logged, truncated to the limits."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.support import MAX_PATH, MAX_USER_AGENT, MAX_XFF, entries, find_own_entry

# Under the 16 KiB per header line and request line that an ALB accepts, well over the stored limits.
LONG = 8000


@pytest.mark.parametrize(
    "suffix",
    [
        "%00",  # NUL
        "a%00b%00",
        "%ff%fe%fd",  # invalid UTF-8
        "%c3%28",  # an invalid two-byte sequence
        "%ed%a0%80",  # a UTF-16 surrogate encoded as UTF-8
        "%e2%82",  # a truncated sequence
        "%zz%",  # not percent-encoding at all
        "%25%00%2500",
        "%0d%0aSet-Cookie:%20x=y",  # an encoded header injection
        "..%2f..%2fetc%2fpasswd",
        "%f0%9f%90%8b-caf%c3%a9",  # valid UTF-8 (an orca and an accent)
        "%7f%01%1b[31m",  # control characters
    ],
)
def test_a_hostile_path_is_logged_without_a_server_error(client: httpx.Client, token: str, suffix: str) -> None:
    response = client.get(f"/{token}/{suffix}")

    entry = find_own_entry(response, token)
    assert entry["path"].startswith(f"/{token}/")
    assert "\x00" not in entry["path"]


def test_a_very_long_path_is_logged_truncated(client: httpx.Client, token: str) -> None:
    response = client.get(f"/{token}/" + "a" * LONG)

    entry = find_own_entry(response, token)
    assert entry["path"].startswith(f"/{token}/aaaa")
    assert len(entry["path"]) == MAX_PATH


def test_a_very_long_user_agent_is_logged_truncated(client: httpx.Client, token: str) -> None:
    response = client.get(f"/{token}", headers={"User-Agent": "u" * LONG})

    entry = find_own_entry(response, token)
    assert entry["user_agent"] == "u" * MAX_USER_AGENT


def test_a_very_long_x_forwarded_for_is_logged_truncated(client: httpx.Client, token: str) -> None:
    xff = ", ".join(["203.0.113.7"] * (LONG // 13))

    entry = find_own_entry(client.get(f"/{token}", headers={"X-Forwarded-For": xff}), token)

    assert 0 < len(entry["xff"]) <= MAX_XFF
    assert entry["xff"].startswith("203.0.113.7, ")
    assert entry["ip"] != "203.0.113.7"


@pytest.mark.parametrize("value", [b"caf\xe9", b"\xff\xfe\xfd", b"\xc3\x28", b"tab\there"])
def test_a_user_agent_of_raw_bytes_is_logged(client: httpx.Client, token: str, value: bytes) -> None:
    response = client.get(f"/{token}", headers={b"User-Agent": value})

    entry = find_own_entry(response, token)
    assert isinstance(entry["user_agent"], str)
    assert "\x00" not in entry["user_agent"]


def test_many_headers_are_harmless(client: httpx.Client, token: str) -> None:
    headers = {f"X-Junk-{n}": "j" * 100 for n in range(100)}

    find_own_entry(client.get(f"/{token}", headers=headers), token)


@pytest.mark.parametrize("method", ["PROPFIND", "MKCOL", "M-SEARCH", "PURGE", "REPORT", "TRACE"])
def test_an_unusual_method_is_logged(client: httpx.Client, token: str, method: str, is_local: bool) -> None:
    response = client.request(method, f"/{token}")

    if is_local or response.status_code == 200:
        assert find_own_entry(response, token)["method"] == method
    else:
        # A load balancer in front may refuse a method before the service sees it, but never with a 5xx.
        assert response.status_code < 500


@pytest.mark.parametrize("method", ["BREW", "X" * 40])
def test_an_unregistered_method_is_never_a_server_error(client: httpx.Client, token: str, method: str) -> None:
    response = client.request(method, f"/{token}")

    # An HTTP parser may refuse a method outside the registered ones with a 400 before the service sees it;
    # whatever reaches the service is logged.
    assert response.status_code < 500
    if response.status_code == 200:
        assert find_own_entry(response, token)["method"] == method


def test_a_body_on_a_get_is_ignored(client: httpx.Client, token: str) -> None:
    response = client.request("GET", f"/{token}", content=b"\x00\xff" * 1000)

    find_own_entry(response, token)


def test_an_error_on_a_service_endpoint_is_a_4xx_with_a_json_body(client: httpx.Client) -> None:
    response = client.post("/_livez")

    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()


# Any bytes at all, percent-encoded, after the token: the service must log them whatever they decode to.
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(min_size=1, max_size=64))
def test_any_percent_encoded_bytes_in_the_path_are_logged(client: httpx.Client, raw: bytes) -> None:
    marker = "e2e-hypothesis-" + raw.hex()[:32]
    encoded = "".join(f"%{byte:02x}" for byte in raw)

    response = client.get(f"/{marker}/{encoded}")

    assert response.status_code < 500
    assert any(marker in (entry["path"] or "") for entry in entries(response))
