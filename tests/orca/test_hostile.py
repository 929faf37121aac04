"""Generated hostile input, sent as raw HTTP to a real server: never a 5xx, and every request is logged."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.orca.conftest import Server, rows, start_server

_tokens = itertools.count()
# Bytes a client can put in a header value: visible ASCII, space, tab and any non-ASCII byte (obs-text).
header_bytes = st.binary(max_size=3000).map(
    lambda b: bytes(c for c in b if c == 0x09 or 0x20 <= c <= 0x7E or c >= 0x80).strip()
)


@pytest.fixture(scope="module")
def server(migrated_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    started = start_server(tmp_path_factory.mktemp("hostile"), {"DATABASE_URL": migrated_url})
    yield started, migrated_url
    started.terminate()


def raw_request(base_url: str, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """Send one request exactly as given and return the status code."""
    host, port = base_url.removeprefix("http://").split(":")
    head = b"%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (method, target, host.encode())
    head += b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + b"\r\n")
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.binary(max_size=3000),
    user_agent=header_bytes,
    xff=header_bytes,
    method=st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"PROPFIND", b"REPORT"]),
)
def test_hostile_paths_and_headers_never_give_a_5xx_and_are_logged(
    server: tuple[Server, str], path: bytes, user_agent: bytes, xff: bytes, method: bytes
) -> None:
    running, db = server
    token = f"/hostile/{next(_tokens)}/"
    target = token.encode() + quote_from_bytes(path, safe="/%").encode()
    headers = [(b"User-Agent", user_agent), (b"X-Forwarded-For", xff)]
    status = raw_request(running.base_url, method, target, [(n, v) for n, v in headers if v])
    assert status == 200
    [(count,)] = rows(db, f"SELECT count(*) FROM access_log WHERE path LIKE '{token}%'")
    assert count == 1


def test_percent_encoded_nul_and_invalid_utf8_are_logged_with_replacements(
    server: tuple[Server, str],
) -> None:
    running, db = server
    status = raw_request(running.base_url, b"GET", b"/bad/%00/%ff%c3%28/%zz", [(b"User-Agent", b"\xff\xfe")])
    assert status == 200
    [(path, user_agent)] = rows(
        db, "SELECT path, user_agent FROM access_log WHERE path LIKE '/bad/%' ORDER BY id DESC LIMIT 1"
    )
    assert path == "/bad/\ufffd/\ufffd\ufffd(/%zz"
    assert user_agent == "\ufffd\ufffd"
