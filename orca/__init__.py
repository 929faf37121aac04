"""Orca: an access-log web service on Falcon (ASGI) and a psycopg 3 connection pool."""

from __future__ import annotations

__version__ = "0.1.0"
