"""What the black-box tests share: the shape of an entry and how a test finds its own."""

from __future__ import annotations

from typing import Any

import httpx

Entry = dict[str, Any]

ENTRY_KEYS = frozenset({"ip", "xff", "user_agent", "method", "path", "time"})
# The documented storage limits, in characters.
MAX_PATH = 2048
MAX_USER_AGENT = 1024
MAX_XFF = 1024
LATEST = 10


def entries(response: httpx.Response) -> list[Entry]:
    """The entries of a logging response, after checking that it is one."""
    assert response.status_code == 200, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list)
    return body


def find_own_entry(response: httpx.Response, token: str) -> Entry:
    """The entry in a logging response whose path carries ``token``.

    With no other client the request's own entry is the first; with others it is among the ten latest unless
    more than nine other requests were logged in between, which a test's own traffic cannot cause.
    """
    latest = entries(response)
    mine = [entry for entry in latest if token in (entry.get("path") or "")]
    assert mine, f"no entry with {token!r} among the latest {len(latest)}: {latest!r}"
    return mine[0]
