"""Client IP handling: the logged ``ip`` is the real client; ``xff`` keeps the raw header for the record."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from tests.e2e.support import find_own_entry

# Documentation addresses (RFC 5737): nobody's real address.
SPOOFED = "203.0.113.7"
SPOOFED_TOO = "198.51.100.9"


@pytest.mark.parametrize(
    "xff",
    [
        SPOOFED,
        f"{SPOOFED}, {SPOOFED_TOO}",
        f"{SPOOFED_TOO},{SPOOFED}",
        f"{SPOOFED} ,{SPOOFED_TOO}",
        "unknown, " + SPOOFED,
    ],
)
def test_a_spoofed_x_forwarded_for_never_becomes_the_logged_ip(client: httpx.Client, token: str, xff: str) -> None:
    entry = find_own_entry(client.get(f"/{token}", headers={"X-Forwarded-For": xff}), token)

    assert entry["ip"] not in {SPOOFED, SPOOFED_TOO}
    # The raw header is recorded; a load balancer in front may append the address it saw.
    assert SPOOFED in entry["xff"]


def test_reached_directly_the_logged_ip_is_the_socket_peer(client: httpx.Client, token: str, is_local: bool) -> None:
    entry = find_own_entry(client.get(f"/{token}", headers={"X-Forwarded-For": SPOOFED}), token)

    address = ipaddress.ip_address(entry["ip"])
    if is_local:
        assert address.is_loopback
        assert entry["xff"] == SPOOFED
    else:
        # Behind a load balancer the test cannot know its own public address, only that it is not the forged
        # one.
        assert str(address) != SPOOFED


def test_without_x_forwarded_for_only_a_proxy_adds_one(client: httpx.Client, token: str, is_local: bool) -> None:
    entry = find_own_entry(client.get(f"/{token}"), token)

    if is_local:
        assert entry["xff"] in (None, "")
    else:
        assert entry["xff"] is None or SPOOFED not in entry["xff"]


@pytest.mark.parametrize("xff", ["not-an-ip", "999.1.1.1, ::zz", "<script>", ",,,", "1.2.3.4:5678"])
def test_a_garbage_x_forwarded_for_is_recorded_and_harmless(client: httpx.Client, token: str, xff: str) -> None:
    entry = find_own_entry(client.get(f"/{token}", headers={"X-Forwarded-For": xff}), token)

    ipaddress.ip_address(entry["ip"])
    assert xff.strip() in entry["xff"]
