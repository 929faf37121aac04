"""The client address: a client never chooses it, trusted proxies are peeled off from the right."""

from __future__ import annotations

import pytest

from orca.client_ip import client_ip, parse_ip
from orca.config import parse_networks

ALB = parse_networks("10.0.0.0/16")


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip("198.51.100.7", "6.6.6.6", ()) == "198.51.100.7"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_ip("198.51.100.7", "6.6.6.6, 7.7.7.7", ALB) == "198.51.100.7"


def test_behind_one_trusted_proxy_the_right_most_entry_is_the_client() -> None:
    assert client_ip("10.0.3.4", "6.6.6.6, 203.0.113.9", ALB) == "203.0.113.9"


def test_every_trusted_hop_is_peeled_off() -> None:
    chain = parse_networks("10.0.0.0/16, 192.168.0.0/24")
    assert client_ip("10.0.3.4", "6.6.6.6, 203.0.113.9, 192.168.0.5", chain) == "203.0.113.9"


def test_garbage_left_of_the_trusted_hops_stops_the_walk() -> None:
    assert client_ip("10.0.3.4", "not-an-ip, 10.0.9.9", ALB) == "10.0.9.9"


def test_trusted_peer_without_forwarded_for_is_itself_the_client() -> None:
    assert client_ip("10.0.3.4", None, ALB) == "10.0.3.4"


def test_ipv4_mapped_ipv6_peer_matches_ipv4_networks() -> None:
    assert client_ip("::ffff:10.0.3.4", "203.0.113.9", ALB) == "203.0.113.9"


def test_no_peer_gives_no_address() -> None:
    assert client_ip(None, "6.6.6.6", ALB) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1:443 ", "192.0.2.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("unknown", None),
        ("", None),
    ],
)
def test_forwarded_entries_are_parsed_with_or_without_ports(value: str, expected: str | None) -> None:
    parsed = parse_ip(value)
    assert (str(parsed) if parsed else None) == expected
