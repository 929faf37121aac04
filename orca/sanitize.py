"""Make request values safe to store: bounded length, valid UTF-8, no NUL bytes.

Limits (characters): path 2048, User-Agent 1024, X-Forwarded-For 1024, method 32. A longer value is cut at the
limit and stored; the request is never refused for it.
"""

from __future__ import annotations

import contextlib
from typing import Final

MAX_PATH: Final = 2048
MAX_USER_AGENT: Final = 1024
MAX_XFF: Final = 1024
MAX_METHOD: Final = 32

REPLACEMENT: Final = "\ufffd"


def clean_text(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, with NUL and unencodable characters replaced by U+FFFD.

    PostgreSQL's ``text`` cannot hold NUL, and a lone surrogate (from a percent-decoded invalid UTF-8
    sequence) cannot be encoded at all; either would fail the insert and lose the request.
    """
    value = value[:limit]
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join(REPLACEMENT if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


def clean_header(value: str | None, limit: int) -> str | None:
    """A header value as the client sent it, decoded as UTF-8 where it is, then cleaned like ``clean_text``.

    ASGI servers hand Falcon header bytes that it decodes as Latin-1; re-decoding as UTF-8 recovers a
    non-ASCII User-Agent faithfully and turns invalid sequences into U+FFFD.
    """
    if value is None:
        return None
    if not value.isascii():
        # A value that is not Latin-1 was decoded by someone else already: keep it as it is.
        with contextlib.suppress(UnicodeEncodeError):
            value = value.encode("latin-1").decode("utf-8", "replace")
    return clean_text(value, limit)
